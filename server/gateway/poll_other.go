//go:build !linux

package gateway

import (
	"errors"
	"net"
)

// Without the event loop every connection is served in goroutine mode;
// these stand-ins are never reached.

type pollSet struct{}

type poller struct{}

const pollSupported = false

func newPollSet(int) (*pollSet, error) {
	return nil, errors.New("gateway: no event loop on this platform")
}

func (s *pollSet) stop() {}

func (s *pollSet) add(*conn) error { return errors.New("gateway: no event loop on this platform") }

func (p *poller) modify(int32, bool, bool) error { return nil }

func (p *poller) remove(*conn) {}

func takeFD(net.Conn) (int, bool) { return -1, false }

func sysRead(int32, []byte) (int, error) { return 0, errors.New("unsupported") }

func sysWrite(int32, [][]byte) (int, bool, error) { return 0, false, errors.New("unsupported") }

func sysClose(int32) {}

func sysGrowSendBuffer(int32, int) {}

func wouldBlock(error) bool { return false }
func peerName(int32) string { return "?" }
