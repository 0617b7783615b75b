package gateway

import (
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	gproto "google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parleyhq/parley/proto"
)

// The hand-made encoding must decode to exactly what the generated code
// would have produced.
func TestEnvelopeFrameMatchesGeneratedCode(t *testing.T) {
	fields := func(m gproto.Message, name protoreflect.Name) protoreflect.FieldNumber {
		return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
	}
	if fields(&proto.Frame{}, "event") != frameEventField || fields(&proto.Event{}, "seq") != eventSeqField ||
		fields(&proto.Event{}, "envelope") != eventEnvelopeField {
		t.Fatal("field numbers in frames.go no longer match parley.proto")
	}
	env := &proto.Envelope{MessageId: []byte("0123456789abcdef"), GroupId: []byte("g"), Kind: proto.EnvelopeKind_APPLICATION, Payload: []byte("ciphertext"), SenderHandle: "@alice"}
	raw, err := gproto.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{0, 1, 300, 1<<64 - 1} {
		var got proto.Frame
		if err := gproto.Unmarshal(EnvelopeFrame(seq, raw), &got); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		want := &proto.Frame{Kind: &proto.Frame_Event{Event: &proto.Event{Seq: seq, Body: &proto.Event_Envelope{Envelope: env}}}}
		if !gproto.Equal(&got, want) {
			t.Fatalf("seq %d: decoded %v, want %v", seq, &got, want)
		}
		wantBytes, _ := gproto.MarshalOptions{Deterministic: true}.Marshal(want)
		if string(EnvelopeFrame(seq, raw)) != string(wantBytes) {
			t.Fatalf("seq %d: bytes differ from the generated encoding", seq)
		}
	}
}

func TestResponseFrameSurvivesInvalidUTF8(t *testing.T) {
	b := responseFrame(&proto.Response{Id: 3, Code: proto.Code_INVALID_HANDLE, Message: "bad \xff handle"})
	var f proto.Frame
	if err := gproto.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if r := f.GetResponse(); r.Id != 3 || r.Code != proto.Code_INVALID_HANDLE {
		t.Fatalf("response %v", r)
	}
}

func TestParseFrame(t *testing.T) {
	ping, _ := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: &proto.Request{Id: 5, Body: &proto.Request_Ping{Ping: &proto.Ping{}}}}})
	hello, _ := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Hello{Hello: &proto.Hello{}}})
	unknown := protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), []byte("x"))
	for _, tc := range []struct {
		name   string
		binary bool
		b      []byte
		want   proto.Code
	}{
		{"request", true, ping, proto.Code_OK},
		{"empty request", true, []byte{0x12, 0x00}, proto.Code_OK},
		{"text", false, ping, proto.Code_BAD_REQUEST},
		{"truncated", true, ping[:len(ping)-1], proto.Code_BAD_REQUEST},
		{"garbage", true, []byte{0xff, 0xff}, proto.Code_BAD_REQUEST},
		{"wrong direction", true, hello, proto.Code_BAD_REQUEST},
		{"empty frame", true, nil, proto.Code_UNKNOWN_FRAME},
		{"unknown kind", true, unknown, proto.Code_UNKNOWN_FRAME},
	} {
		req, code, msg := parseFrame(tc.binary, tc.b)
		if code != tc.want {
			t.Errorf("%s: %v %q, want %v", tc.name, code, msg, tc.want)
		}
		if (code == proto.Code_OK) != (req != nil) || (code != proto.Code_OK && msg == "") {
			t.Errorf("%s: request %v, message %q", tc.name, req, msg)
		}
	}
}

// FuzzParseFrame feeds arbitrary messages to the decoder: it must never
// panic, and whatever it accepts must re-encode and decode to the same
// request.
func FuzzParseFrame(f *testing.F) {
	ping, _ := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: &proto.Request{Id: 5, Body: &proto.Request_Ping{Ping: &proto.Ping{}}}}})
	send, _ := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: &proto.Request{Id: 6, Body: &proto.Request_Send{Send: &proto.Send{GroupId: []byte("g"), MessageId: make([]byte, 16), Ciphertext: []byte("c")}}}}})
	f.Add(ping)
	f.Add(send)
	f.Add([]byte{})
	f.Add([]byte{0x12, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, code, _ := parseFrame(true, b)
		if code != proto.Code_OK {
			return
		}
		again, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
		if err != nil {
			t.Fatalf("accepted request does not re-encode: %v", err)
		}
		req2, code2, _ := parseFrame(true, again)
		if code2 != proto.Code_OK || !gproto.Equal(req, req2) {
			t.Fatalf("re-encoded request decodes differently")
		}
	})
}
