package nats

import (
	"fmt"
	"testing"

	"github.com/parleyhq/parley/bus"
)

func TestWireRoundTrip(t *testing.T) {
	for _, m := range []bus.Message{
		{Kind: bus.KindMail},
		{Kind: bus.KindMail, Seq: 1<<64 - 1},
		{Kind: bus.KindFrame, Frame: []byte{}},
		{Kind: bus.KindFrame, Frame: []byte{0, 1, 2, 255}},
		{Kind: bus.KindClose, Code: -5, Reason: "", Except: ""},
		{Kind: bus.KindClose, Code: 1<<31 - 1, Reason: "device revoked", Except: "c42"},
	} {
		b, err := encode(m)
		if err != nil {
			t.Fatalf("encode %+v: %v", m, err)
		}
		got, err := decode(b)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(m) {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", m, got, err)
		}
	}
}

func TestWireRejects(t *testing.T) {
	if _, err := encode(bus.Message{Kind: 9}); err == nil {
		t.Error("encoded an unknown kind")
	}
	if _, err := encode(bus.Message{Kind: bus.KindClose, Reason: string(make([]byte, maxReason+1))}); err == nil {
		t.Error("encoded an over-long reason")
	}
	for _, b := range [][]byte{
		nil,
		{0},
		{9, 1},
		{byte(bus.KindMail)},              // no seq
		{byte(bus.KindMail), 1, 2},        // trailing byte
		{byte(bus.KindMail), 0x80},        // truncated varint
		{byte(bus.KindClose), 2, 5, 'a'},  // reason shorter than its length
		{byte(bus.KindClose), 2, 0, 0, 0}, // trailing byte
		{byte(bus.KindClose), 2, 0},       // no except
		{byte(bus.KindClose), 2, 0xff, 0xff, 0xff, 0xff, 0x0f},                              // huge length
		append([]byte{byte(bus.KindClose)}, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0), // code beyond int32
	} {
		if m, err := decode(b); err == nil {
			t.Errorf("decode(%x) = %+v, want an error", b, m)
		}
	}
}

// FuzzDecode: no input panics the decoder, and whatever it accepts
// encodes back to something that decodes to the same message.
func FuzzDecode(f *testing.F) {
	for _, m := range []bus.Message{
		{Kind: bus.KindMail, Seq: 300},
		{Kind: bus.KindFrame, Frame: []byte("frame")},
		{Kind: bus.KindClose, Code: 15, Reason: "revoked", Except: "c1"},
	} {
		b, _ := encode(m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			return
		}
		again, err := encode(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		m2, err := decode(again)
		if err != nil || fmt.Sprint(m2) != fmt.Sprint(m) {
			t.Fatalf("round trip changed %+v into %+v (%v)", m, m2, err)
		}
	})
}
