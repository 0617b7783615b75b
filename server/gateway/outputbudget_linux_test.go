package gateway

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
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
	g, err := New(Config{
		HandshakeTimeout: time.Minute, IdleTimeout: time.Minute, WriteTimeout: 300 * time.Millisecond, DrainPeriod: time.Second,
		SendQueue: 512, SendBuffer: 32 << 10, RatePerSecond: 100, RateBurst: 100, MaxConnections: 10,
		Auth: fakeAuth{}, Handler: h, Mailbox: &countingMailbox{}, Bus: b, Metrics: metrics.New(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g}
	go srv.Serve(g.Listen(ln, time.Minute))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Drain(ctx)
		srv.Shutdown(ctx)
	})
	return g, ln.Addr().String()
}

// dialSmall is dialTest with a 4 KiB receive buffer: what the device has
// not read stays on the server's side.
func dialSmall(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		Path, addr, base64.StdEncoding.EncodeToString(make([]byte, 16)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
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
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.conns {
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if !closing {
			return false
		}
	}
	return true
}

// readRawFrame reads one unmasked server frame.
func readRawFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return h[0] & 0x0f, p, err
}
