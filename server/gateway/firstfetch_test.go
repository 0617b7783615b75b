package gateway

import (
	"context"
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
			t.Cleanup(func() { b.Close() })
			if c.older {
				unsub, err := b.Subscribe("dA", func(bus.Message) {})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(unsub)
			}
			mb := &countingMailbox{}
			auth := fakeAuth{}
			if c.lateMail {
				auth.during = func() { b.Publish(context.Background(), "dA", bus.Message{Kind: bus.KindMail, Seq: 1}) }
			}
			g, addr := startTestGateway(t, Config{
				HandshakeTimeout: time.Minute, IdleTimeout: time.Minute, WriteTimeout: time.Minute, DrainPeriod: time.Second,
				SendQueue: 16, RatePerSecond: 100, RateBurst: 100, MaxConnections: 10,
				Auth: auth, Handler: okHandler{}, Mailbox: mb, Bus: b, Metrics: metrics.New(),
			})

			nc, br := dialTest(t, addr)
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
			cn := onlyConn(g)
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
