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
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/local"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/metrics"
	"github.com/parleyhq/parley/store"
)

// fakeAuth authenticates anyone as device dA of account aA and reports
// an empty mailbox; during runs inside the authenticate read.
type fakeAuth struct{ during func() }

func (a fakeAuth) Authenticate(ctx context.Context, ch []byte, r *proto.Authenticate) (*proto.AuthResult, error) {
	res, _, err := a.AuthenticateInfo(ctx, ch, r)
	return res, err
}

func (a fakeAuth) AuthenticateInfo(context.Context, []byte, *proto.Authenticate) (*proto.AuthResult, AuthInfo, error) {
	if a.during != nil {
		a.during()
	}
	return &proto.AuthResult{AccountId: "aA", DeviceId: "dA", Handle: "@a"}, AuthInfo{MailboxEmpty: true}, nil
}

func (fakeAuth) Register(context.Context, []byte, *proto.Register) (*proto.AuthResult, error) {
	return nil, proto.Errorf(proto.Code_REGISTRATION_CLOSED, "no")
}

func (fakeAuth) LinkBegin(context.Context, []byte, *proto.LinkBegin) (string, *proto.LinkCode, error) {
	return "", nil, proto.Errorf(proto.Code_BAD_REQUEST, "no")
}

type okHandler struct{}

func (okHandler) Serve(_ context.Context, _ Identity, _ *proto.Request, done func(*proto.Response)) {
	done(&proto.Response{})
}
func (okHandler) Left(string, time.Time) {}

// countingMailbox holds one entry (seq 1) and counts reads.
type countingMailbox struct{ fetches atomic.Int32 }

func (m *countingMailbox) Fetch(_ context.Context, _ string, after uint64, _ int) ([]store.Mail, error) {
	m.fetches.Add(1)
	if after >= 1 {
		return nil, nil
	}
	env, _ := gproto.Marshal(&proto.Envelope{Payload: []byte("late mail")})
	return []store.Mail{{Seq: 1, Envelope: env}}, nil
}

// The first mailbox read is skipped only when the authenticate read found
// the mailbox empty and no mail was signalled until the subscription:
// mail committed and signalled in between (the signal lost, nobody
// subscribed yet) is still read and pushed.
func TestFirstFetch(t *testing.T) {
	for _, c := range []struct {
		name      string
		lateMail  bool
		older     bool // an older connection of the device is subscribed and gets the signal
		wantReads int32
	}{
		{"empty, nothing in between", false, false, 0},
		{"mail signalled between the read and the subscription", true, false, 1},
		{"mail signalled to an older connection of the device", true, true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := local.New()
			defer b.Close()
			if c.older {
				unsub, err := b.Subscribe("dA", func(bus.Message) {})
				if err != nil {
					t.Fatal(err)
				}
				defer unsub()
			}
			mb := &countingMailbox{}
			auth := fakeAuth{}
			if c.lateMail {
				auth.during = func() { b.Publish(context.Background(), "dA", bus.Message{Kind: bus.KindMail, Seq: 1}) }
			}
			g, err := New(Config{
				HandshakeTimeout: time.Minute, IdleTimeout: time.Minute, WriteTimeout: time.Minute, DrainPeriod: time.Second,
				SendQueue: 16, RatePerSecond: 100, RateBurst: 100, MaxConnections: 10,
				Auth: auth, Handler: okHandler{}, Mailbox: mb, Bus: b, Metrics: metrics.New(),
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
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				g.Drain(ctx)
				srv.Shutdown(ctx)
			}()

			nc, br := dialTest(t, ln.Addr().String())
			defer nc.Close()
			if f := readTestFrame(t, br); f.GetHello() == nil {
				t.Fatalf("first frame %v, want Hello", f)
			}
			sendTestRequest(t, nc, &proto.Request{Id: 1, Body: &proto.Request_Authenticate{Authenticate: &proto.Authenticate{DeviceId: "dA"}}})
			sendTestRequest(t, nc, &proto.Request{Id: 2, Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
			var events int
			for got := 0; got < 2; {
				f := readTestFrame(t, br)
				switch {
				case f.GetResponse() != nil:
					got++
				case f.GetEvent() != nil:
					events++
				}
			}
			// The Ping was answered after authenticated returned: a
			// pusher it started is running or done.
			g.mu.Lock()
			var cn *conn
			for x := range g.conns {
				cn = x
			}
			g.mu.Unlock()
			for {
				cn.mu.Lock()
				running := cn.pushRunning
				cn.mu.Unlock()
				if !running {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if n := mb.fetches.Load(); n != c.wantReads {
				t.Fatalf("%d mailbox reads, want %d", n, c.wantReads)
			}
			if c.lateMail && events == 0 {
				if f := readTestFrame(t, br); f.GetEvent().GetSeq() != 1 {
					t.Fatalf("frame %v, want the late mail", f)
				}
			}
		})
	}
}

func dialTest(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		Path, addr, base64.StdEncoding.EncodeToString(make([]byte, 16)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return conn, br
}

func readTestFrame(t *testing.T, br *bufio.Reader) *proto.Frame {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatal(err)
	}
	var f proto.Frame
	if err := gproto.Unmarshal(p, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func sendTestRequest(t *testing.T, conn net.Conn, req *proto.Request) {
	t.Helper()
	p, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
	if err != nil {
		t.Fatal(err)
	}
	// Masked with a zero key: the payload goes as is.
	frame := append([]byte{0x80 | opBinary, 0x80 | byte(len(p)), 0, 0, 0, 0}, p...)
	if len(p) > 125 {
		t.Fatal("test request too long")
	}
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
}
