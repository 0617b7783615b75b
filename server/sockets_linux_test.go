package server_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/coder/websocket"
	"golang.org/x/sys/unix"

	"github.com/parleyhq/parley/server"
)

// receiveBuffer is a net.Dialer Control that sets SO_RCVBUF to n before
// the connection is made (after it, the window already advertised
// overruns the buffer and reads crawl through retransmissions).
func receiveBuffer(n int) func(string, string, syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}); err != nil {
			return err
		}
		return serr
	}
}

// serverSendBuffer finds, among this process's descriptors, the server's end
// of the TCP connection whose client end is at client, and returns its
// SO_SNDBUF.
func serverSendBuffer(t *testing.T, client net.Addr) (int, bool) {
	t.Helper()
	want := client.(*net.TCPAddr)
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := unix.Getpeername(fd)
		if err != nil {
			continue
		}
		var port int
		var ip net.IP
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			port, ip = a.Port, net.IP(a.Addr[:])
		case *unix.SockaddrInet6:
			port, ip = a.Port, net.IP(a.Addr[:])
		default:
			continue
		}
		if port != want.Port || !ip.Equal(want.IP) {
			continue
		}
		n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
		if err != nil {
			t.Fatal(err)
		}
		return n, true
	}
	return 0, false
}

// The server gives device sockets Config.SendBuffer as SO_SNDBUF (Linux
// reports twice what was set); SendBufferKernel leaves the kernel's.
func TestSendBuffer(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  int
		want func(int) bool
	}{
		{"default", 0, func(n int) bool { return n == 2*server.DefaultSendBuffer }},
		{"configured", 24 << 10, func(n int) bool { return n == 2*(24<<10) }},
		{"kernel", server.SendBufferKernel, func(n int) bool { return n != 2*server.DefaultSendBuffer }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(c *server.Config) { c.SendBuffer = tc.set })
			var local net.Addr
			hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err == nil {
					local = nc.LocalAddr()
				}
				return nc, err
			}}}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			ws, _, err := websocket.Dial(ctx, ts.url, &websocket.DialOptions{HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			if _, _, err := ws.Read(ctx); err != nil { // the Hello: the gateway has the socket
				t.Fatal(err)
			}
			n, ok := serverSendBuffer(t, local)
			if !ok {
				t.Fatalf("no socket of this process is connected to %v", local)
			}
			if !tc.want(n) {
				t.Fatalf("SO_SNDBUF of the device's socket is %d with SendBuffer %d", n, tc.set)
			}
		})
	}
}
