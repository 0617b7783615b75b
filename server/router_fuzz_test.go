package server

// Fuzz targets for the request handlers. Each feeds arbitrary bodies of
// one request type through the router, as an authenticated device of a
// real server (embedded store in a temporary directory, in-process bus),
// and checks that the handler answers exactly once, promptly, with a
// known code, and with a message for a person whenever it refuses. A
// refusal of bad input is never INTERNAL: that code means a bug or a
// failing store, and the store here is healthy.
//
// FuzzRequest covers every request type of the schema at once (the first
// byte picks the type), so handlers added later are fuzzed without a new
// target; the per-type targets spend all their time on one handler. Run
// them for hours with `make fuzz FUZZTIME=4h` (docs/operations.md).

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
)

// fuzzAnswerTimeout bounds one handler's answer; a hung handler is a
// finding.
const fuzzAnswerTimeout = 10 * time.Second

// fuzzEnv is a server with two accounts and a conversation between them.
type fuzzEnv struct {
	srv   *Server
	me    gateway.Identity
	peer  gateway.Identity
	group []byte
}

// fuzzKey derives a fixed key, so account and device ids (and therefore
// the checked-in corpus) are the same in every run.
func fuzzKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("parley fuzz " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	srv, err := New(Config{Addr: "127.0.0.1:0", AdminAddr: AdminOff, DataDir: f.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	srv.del.Start()
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), fuzzAnswerTimeout)
		defer cancel()
		srv.del.Stop(ctx)
		srv.closeOwned()
	})
	e := &fuzzEnv{srv: srv, me: fuzzRegister(f, srv, "@fuzzer"), peer: fuzzRegister(f, srv, "@peer")}
	e.group = []byte("fuzz-group-0001")
	commit, welcome := creationCommit(f, fuzzKey("@fuzzer"), e.group, e.peer.DeviceID)
	r := e.serve(f, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: e.group, Epoch: 0, MessageId: make([]byte, proto.MessageIDBytes), Commit: commit,
		Kind: proto.ConversationKind_DIRECT, Accounts: []string{e.me.AccountID, e.peer.AccountID},
		AddDevices: []string{e.peer.DeviceID}, Welcome: welcome,
	}}})
	if r.Code != proto.Code_OK {
		f.Fatalf("creating the conversation: %v %s", r.Code, r.Message)
	}
	return e
}

func fuzzRegister(f *testing.F, srv *Server, handle string) gateway.Identity {
	f.Helper()
	priv := fuzzKey(handle)
	pub := priv.Public().(ed25519.PublicKey)
	dev := identity.DeviceID(pub)
	list, err := identity.SignDeviceList(priv, &proto.DeviceList{
		AccountId: identity.AccountID(pub), Handle: handle, Version: 1,
		Devices: []*proto.Device{{DeviceId: dev, SigningKey: pub, Name: "fuzz", Primary: true}},
	})
	if err != nil {
		f.Fatal(err)
	}
	challenge := make([]byte, 32)
	res, err := srv.dir.Register(context.Background(), challenge, &proto.Register{
		Handle: handle, SigningKey: pub, DeviceList: list, DeviceName: "fuzz",
		Signature: ed25519.Sign(priv, identity.AuthMessage(challenge, dev)), ProtocolVersion: proto.ProtocolVersion,
	})
	if err != nil {
		f.Fatalf("register %s: %v", handle, err)
	}
	return gateway.Identity{AccountID: res.AccountId, Handle: res.Handle, DeviceID: res.DeviceId, Primary: res.Primary}
}

// serve runs one request through the router and checks the answer.
func (e *fuzzEnv) serve(t testing.TB, req *proto.Request) *proto.Response {
	t.Helper()
	var calls atomic.Int32
	got := make(chan *proto.Response, 2)
	ctx, cancel := context.WithTimeout(context.Background(), fuzzAnswerTimeout)
	defer cancel()
	// Serve runs on its own goroutine so that a handler that blocks is
	// reported with everyone's stacks instead of hanging the fuzzer.
	go e.srv.router.Serve(ctx, e.me, req, func(r *proto.Response) {
		calls.Add(1)
		got <- r
	})
	var r *proto.Response
	select {
	case r = <-got:
	case <-time.After(fuzzAnswerTimeout):
		buf := make([]byte, 1<<20)
		t.Fatalf("no answer within %v to %v\n%s", fuzzAnswerTimeout, req, buf[:runtime.Stack(buf, true)])
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("done called %d times for %v", n, req)
	}
	if _, known := proto.Code_name[int32(r.Code)]; !known {
		t.Fatalf("answer with unknown code %d to %v", r.Code, req)
	}
	if r.Code != proto.Code_OK && r.Message == "" {
		t.Fatalf("refusal %v without a message for a person, to %v", r.Code, req)
	}
	if r.Code == proto.Code_INTERNAL {
		t.Fatalf("INTERNAL (%s) for %v: bad input must get a specific code", r.Message, req)
	}
	return r
}

// bodyFields are the request types of the schema, in field-number order,
// except the handshake ones (the gateway answers those before the router).
func bodyFields() []protoreflect.FieldDescriptor {
	oneof := (&proto.Request{}).ProtoReflect().Descriptor().Oneofs().ByName("body")
	var out []protoreflect.FieldDescriptor
	for i := range oneof.Fields().Len() {
		fd := oneof.Fields().Get(i)
		switch fd.Name() {
		case "authenticate", "register", "link_begin":
			continue
		}
		out = append(out, fd)
	}
	return out
}

// request builds a Request whose body is field fd holding the message
// encoded in b; false if b does not decode.
func request(fd protoreflect.FieldDescriptor, b []byte) (*proto.Request, bool) {
	req := &proto.Request{}
	rm := req.ProtoReflect()
	body := rm.NewField(fd).Message()
	if err := (gproto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, body.Interface()); err != nil {
		return nil, false
	}
	rm.Set(fd, protoreflect.ValueOfMessage(body))
	return req, true
}

// seeds are bodies worth starting from: empty, and ones naming the real
// accounts, devices and conversation of the environment.
func (e *fuzzEnv) seeds(fd protoreflect.FieldDescriptor) [][]byte {
	msgID := []byte("0123456789abcdef")
	var bodies []gproto.Message
	switch fd.Name() {
	case "send":
		bodies = []gproto.Message{
			&proto.Send{GroupId: e.group, MessageId: msgID, Epoch: 1, Ciphertext: []byte("ciphertext")},
			&proto.Send{GroupId: e.group, MessageId: msgID, Epoch: 1, Ciphertext: []byte("typing"), Ephemeral: true},
		}
	case "commit":
		bodies = []gproto.Message{&proto.Commit{GroupId: e.group, Epoch: 1, MessageId: msgID, Commit: []byte("c"),
			AddDevices: []string{e.peer.DeviceID}, RemoveDevices: []string{e.peer.DeviceID}, Welcome: []byte("w")}}
	case "ack":
		bodies = []gproto.Message{&proto.Ack{UpToSeq: 1}, &proto.Ack{UpToSeq: 1<<64 - 1}}
	case "get_group":
		bodies = []gproto.Message{&proto.GetGroup{GroupId: e.group}}
	case "link_lookup":
		bodies = []gproto.Message{&proto.LinkLookup{Code: "1234-5678"}}
	case "link_approve":
		bodies = []gproto.Message{&proto.LinkApprove{Code: "1234-5678", DeviceList: &proto.SignedDeviceList{}}}
	case "revoke_device":
		bodies = []gproto.Message{&proto.RevokeDevice{DeviceId: e.peer.DeviceID, DeviceList: &proto.SignedDeviceList{}}}
	case "fetch_keys":
		bodies = []gproto.Message{&proto.FetchKeys{Handle: e.peer.Handle}, &proto.FetchKeys{AccountId: e.peer.AccountID, FromIndex: 1 << 40}}
	case "upload_key_packages":
		bodies = []gproto.Message{&proto.UploadKeyPackages{OneTime: [][]byte{[]byte("kp")}, LastResort: []byte("lr")}}
	case "claim_key_packages":
		bodies = []gproto.Message{&proto.ClaimKeyPackages{AccountId: e.peer.AccountID, DeviceIds: []string{e.peer.DeviceID}}}
	case "set_contact":
		bodies = []gproto.Message{&proto.SetContact{AccountId: e.peer.AccountID, Contact: true}}
	case "set_blocked":
		bodies = []gproto.Message{&proto.SetBlocked{AccountId: e.peer.AccountID, Blocked: true}}
	case "set_presence_visibility":
		bodies = []gproto.Message{&proto.SetPresenceVisibility{Visibility: proto.PresenceVisibility_CONTACTS}}
	case "get_presence":
		bodies = []gproto.Message{&proto.GetPresence{AccountId: e.peer.AccountID}}
	}
	out := [][]byte{nil}
	for _, m := range bodies {
		b, err := gproto.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}

// fuzzType fuzzes the handler of one request type.
func fuzzType(f *testing.F, name protoreflect.Name) {
	e := newFuzzEnv(f)
	var fd protoreflect.FieldDescriptor
	for _, x := range bodyFields() {
		if x.Name() == name {
			fd = x
		}
	}
	if fd == nil {
		f.Fatalf("no request type %q in the schema", name)
	}
	for _, b := range e.seeds(fd) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if req, ok := request(fd, b); ok {
			e.serve(t, req)
		}
	})
}

// FuzzRequest: the first byte picks the request type, the rest is its
// body.
func FuzzRequest(f *testing.F) {
	e := newFuzzEnv(f)
	fields := bodyFields()
	for i, fd := range fields {
		for _, b := range e.seeds(fd) {
			f.Add(append([]byte{byte(i)}, b...))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		if req, ok := request(fields[int(b[0])%len(fields)], b[1:]); ok {
			e.serve(t, req)
		}
	})
}

func FuzzSend(f *testing.F)                  { fuzzType(f, "send") }
func FuzzCommit(f *testing.F)                { fuzzType(f, "commit") }
func FuzzAck(f *testing.F)                   { fuzzType(f, "ack") }
func FuzzGetGroup(f *testing.F)              { fuzzType(f, "get_group") }
func FuzzLinkLookup(f *testing.F)            { fuzzType(f, "link_lookup") }
func FuzzLinkApprove(f *testing.F)           { fuzzType(f, "link_approve") }
func FuzzRevokeDevice(f *testing.F)          { fuzzType(f, "revoke_device") }
func FuzzFetchKeys(f *testing.F)             { fuzzType(f, "fetch_keys") }
func FuzzUploadKeyPackages(f *testing.F)     { fuzzType(f, "upload_key_packages") }
func FuzzClaimKeyPackages(f *testing.F)      { fuzzType(f, "claim_key_packages") }
func FuzzSetContact(f *testing.F)            { fuzzType(f, "set_contact") }
func FuzzSetBlocked(f *testing.F)            { fuzzType(f, "set_blocked") }
func FuzzSetPresenceVisibility(f *testing.F) { fuzzType(f, "set_presence_visibility") }
func FuzzGetPresence(f *testing.F)           { fuzzType(f, "get_presence") }
