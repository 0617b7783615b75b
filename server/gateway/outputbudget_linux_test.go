package gateway

import (
	"bufio"
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/bus/local"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/metrics"
)

// bigResponses answers every request it serves with a CONFLICT carrying
// a winning commit of proto.MaxHandshakeBytes, the largest response
// there is, and counts them.
type bigResponses struct{ served atomic.Int32 }

func (h *bigResponses) Serve(_ context.Context, _ Identity, _ *proto.Request, done func(*proto.Response)) {
	h.served.Add(1)
	done(&proto.Response{Code: proto.Code_CONFLICT, Body: &proto.Response_Conflict{Conflict: &proto.Conflict{
		Epoch: 2, WinningCommit: make([]byte, proto.MaxHandshakeBytes),
	}}})
}
func (*bigResponses) Left(string, time.Time) {}

// startBudgetGateway serves a gateway whose sockets have a small send
// buffer, so that what a device has not read yet waits in the output.
func startBudgetGateway(t *testing.T, h Handler) (*Gateway, string) {
	t.Helper()
	b := local.New()
	t.Cleanup(func() { b.Close() })
	return startTestGateway(t, Config{
		HandshakeTimeout: time.Minute, IdleTimeout: time.Minute, WriteTimeout: 300 * time.Millisecond, DrainPeriod: time.Second,
		SendQueue: 512, SendBuffer: 32 << 10, RatePerSecond: 100, RateBurst: 100, MaxConnections: 10,
		Auth: fakeAuth{}, Handler: h, Mailbox: &countingMailbox{}, Bus: b, Metrics: metrics.New(),
	})
}

// dialSmall dials through a dialer with a 4 KiB receive buffer, so that
// what the device has not read stays on the server's side, and
// authenticates.
func dialSmall(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, br := dialTestWith(t, addr, d)
	if f := readTestFrame(t, br); f.GetHello() == nil {
		t.Fatalf("first frame %v, want Hello", f)
	}
	sendTestRequest(t, conn, &proto.Request{Id: 1, Body: &proto.Request_Authenticate{Authenticate: &proto.Authenticate{DeviceId: "dA"}}})
	if r := readTestFrame(t, br).GetResponse(); r.GetCode() != proto.Code_OK || r.GetAuth() == nil {
		t.Fatalf("authenticate: %v", r)
	}
	return conn, br
}

func commitRequest(id uint64) *proto.Request {
	return &proto.Request{Id: id, Body: &proto.Request_Commit{Commit: &proto.Commit{Epoch: 1}}}
}

// A device that reads normally is not cut for the size of the responses
// to its own requests: three near-maximal ones asked back to back (2.7
// MiB, beyond maxQueueBytes) all arrive, and the connection lives on.
func TestLargeResponsesNotCut(t *testing.T) {
	h := &bigResponses{}
	_, addr := startBudgetGateway(t, h)
	conn, br := dialSmall(t, addr)
	const n = 3
	for id := uint64(2); id < 2+n; id++ {
		sendTestRequest(t, conn, commitRequest(id))
	}
	for id := uint64(2); id < 2+n; id++ {
		r := readTestFrame(t, br).GetResponse()
		if r.GetId() != id || r.GetCode() != proto.Code_CONFLICT || len(r.GetConflict().GetWinningCommit()) != proto.MaxHandshakeBytes {
			t.Fatalf("response %d: id %d, %v, %d bytes of commit", id, r.GetId(), r.GetCode(), len(r.GetConflict().GetWinningCommit()))
		}
	}
	sendTestRequest(t, conn, &proto.Request{Id: 9, Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
	if r := readTestFrame(t, br).GetResponse(); r.GetId() != 9 || r.GetCode() != proto.Code_OK {
		t.Fatalf("ping after the large responses: %v", r)
	}
}

// A device that asks and does not read gets its requests served only
// while less than maxQueueBytes of responses wait (two of the largest
// here), then stalls its socket and is cut as a slow consumer.
func TestUnreadResponsesCut(t *testing.T) {
	h := &bigResponses{}
	g, addr := startBudgetGateway(t, h)
	conn, br := dialSmall(t, addr)
	const n = 10
	for id := uint64(2); id < 2+n; id++ {
		sendTestRequest(t, conn, commitRequest(id))
	}
	deadline := time.Now().Add(10 * time.Second)
	for !budgetConnClosing(g) {
		if time.Now().After(deadline) {
			t.Fatal("the device that does not read was not cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := h.served.Load(); s != 2 {
		t.Fatalf("%d requests served for a device that read nothing, want 2 (then 1.8 MiB of responses wait)", s)
	}
	// What it reads now: what the kernel held, then the close frame
	// (goroutine mode: the stream ends instead).
	for {
		op, p, err := readRawFrame(br)
		if err != nil {
			if g.goroutines {
				return
			}
			t.Fatalf("stream ended without a close frame: %v", err)
		}
		if op == opClose {
			if st := binary.BigEndian.Uint16(p); st != 4000+uint16(proto.Code_SLOW_CONSUMER) {
				t.Fatalf("close status %d, want 4016", st)
			}
			return
		}
	}
}

// budgetConnClosing reports whether g's one connection is closing (or
// gone).
func budgetConnClosing(g *Gateway) bool {
	c := onlyConn(g)
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}
