package server_test

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/encoding/protowire"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

var ping = &proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}}

// frameResponse reads until a Response with id 0 (an answer to a frame
// that had no request id).
func (c *client) frameResponse() *proto.Response { return c.response(0) }

func TestMalformedFramesAnsweredThenClosed(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	valid := mustMarshalFrame(t, &proto.Frame{Kind: &proto.Frame_Request{Request: &proto.Request{Id: 7, Body: &proto.Request_Ping{Ping: &proto.Ping{}}}}})

	// Truncated: a valid frame cut in the middle of its request.
	c.sendRaw(websocket.MessageBinary, valid[:len(valid)-2])
	if r := c.frameResponse(); r.Code != proto.Code_BAD_REQUEST || r.Message == "" {
		t.Fatalf("truncated frame: %v %q, want BAD_REQUEST with a message", r.Code, r.Message)
	}
	// Text instead of binary.
	c.sendRaw(websocket.MessageText, []byte("hello?"))
	if r := c.frameResponse(); r.Code != proto.Code_BAD_REQUEST {
		t.Fatalf("text message: %v, want BAD_REQUEST", r.Code)
	}
	// The connection still works between malformed frames.
	c.expectCode(ping, proto.Code_UNAUTHENTICATED)
	// Garbage, the third malformed frame: answered, then closed.
	c.sendRaw(websocket.MessageBinary, []byte{0xff, 0xff, 0xff, 0xff})
	if r := c.frameResponse(); r.Code != proto.Code_BAD_REQUEST {
		t.Fatalf("garbage: %v, want BAD_REQUEST", r.Code)
	}
	c.expectClosed(proto.Code_BAD_REQUEST)
}

func TestFramesOfTheWrongDirectionAreMalformed(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	c.sendFrame(&proto.Frame{Kind: &proto.Frame_Hello{Hello: &proto.Hello{}}})
	if r := c.frameResponse(); r.Code != proto.Code_BAD_REQUEST {
		t.Fatalf("client Hello: %v, want BAD_REQUEST", r.Code)
	}
}

func TestUnknownFrameAndRequestTypes(t *testing.T) {
	ts := startServer(t)
	c := register(t, ts, "@alice")

	// A Frame whose only field is one this server does not know.
	unknownFrame := protowire.AppendTag(nil, 99, protowire.BytesType)
	unknownFrame = protowire.AppendBytes(unknownFrame, []byte("future"))
	for range 5 { // never counted as malformed
		c.sendRaw(websocket.MessageBinary, unknownFrame)
		if r := c.frameResponse(); r.Code != proto.Code_UNKNOWN_FRAME || r.Message == "" {
			t.Fatalf("unknown frame kind: %v %q, want UNKNOWN_FRAME", r.Code, r.Message)
		}
	}
	// A Request with id 42 and a body field this server does not know.
	req := protowire.AppendTag(nil, 1, protowire.VarintType)
	req = protowire.AppendVarint(req, 42)
	req = protowire.AppendTag(req, 99, protowire.BytesType)
	req = protowire.AppendBytes(req, nil)
	frame := protowire.AppendTag(nil, 2, protowire.BytesType)
	frame = protowire.AppendBytes(frame, req)
	c.sendRaw(websocket.MessageBinary, frame)
	if r := c.response(42); r.Code != proto.Code_UNKNOWN_FRAME {
		t.Fatalf("unknown request body: %v, want UNKNOWN_FRAME", r.Code)
	}
	c.mustCall(ping) // the connection survives
}

func TestOversizedMessageClosesWithTooLarge(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	c.sendRaw(websocket.MessageBinary, make([]byte, proto.MaxFrameBytes+1))
	c.expectClosed(proto.Code_TOO_LARGE)
}

func TestMessageAtTheLimitIsRead(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	// A Ping request padded with an unknown field to exactly the limit:
	// read, parsed, answered.
	req := protowire.AppendTag(nil, 1, protowire.VarintType)
	req = protowire.AppendVarint(req, 9)
	req = protowire.AppendTag(req, 27, protowire.BytesType) // ping
	req = protowire.AppendBytes(req, nil)
	pad := proto.MaxFrameBytes - 100 - len(req)
	req = protowire.AppendTag(req, 500, protowire.BytesType)
	req = protowire.AppendBytes(req, make([]byte, pad))
	frame := protowire.AppendTag(nil, 2, protowire.BytesType)
	frame = protowire.AppendBytes(frame, req)
	// Top up to the exact limit with an unknown Frame field (field 15:
	// one tag byte, one length byte).
	frame = protowire.AppendTag(frame, 15, protowire.BytesType)
	frame = protowire.AppendBytes(frame, make([]byte, proto.MaxFrameBytes-len(frame)-1))
	if len(frame) != proto.MaxFrameBytes {
		t.Fatalf("test frame is %d bytes, want %d", len(frame), proto.MaxFrameBytes)
	}
	c.sendRaw(websocket.MessageBinary, frame)
	if r := c.response(9); r.Code != proto.Code_UNAUTHENTICATED {
		t.Fatalf("frame at the limit: %v, want UNAUTHENTICATED (read and parsed)", r.Code)
	}
}

// TestDeclaredLengthOverLimit speaks raw WebSocket: a frame header that
// declares a terabyte. The server must refuse it without allocating
// anything near that, after at most the limit of payload.
func TestDeclaredLengthOverLimit(t *testing.T) {
	ts := startServer(t)
	conn, br := rawUpgrade(t, ts.Addr())
	readHello(t, br)

	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const declared = 1 << 40
	hdr := []byte{0x82, 0x80 | 127} // FIN+binary, masked, 64-bit length
	hdr = binary.BigEndian.AppendUint64(hdr, declared)
	hdr = append(hdr, 0, 0, 0, 0) // zero mask key: payload goes as is
	if _, err := conn.Write(hdr); err != nil {
		t.Fatal(err)
	}
	// Stream payload until the server stops reading and closes.
	done := make(chan int)
	go func() {
		chunk := make([]byte, 64<<10)
		sent := 0
		for sent < 4*proto.MaxFrameBytes {
			n, err := conn.Write(chunk)
			sent += n
			if err != nil {
				break
			}
		}
		done <- sent
	}()
	status := readCloseStatus(t, br)
	conn.Close()
	<-done
	if status != 4000+int(proto.Code_TOO_LARGE) {
		t.Fatalf("close status %d, want %d", status, 4000+int(proto.Code_TOO_LARGE))
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.TotalAlloc - before.TotalAlloc); grown > 64<<20 {
		t.Fatalf("server allocated %d bytes for one refused frame", grown)
	}
}

// TestDeclaredLengthRefusedFromHeader: a header that declares a terabyte
// and nothing after it. The server refuses the frame from its header
// alone — it does not wait for payload that never comes — with a Notice
// and close status 4010.
func TestDeclaredLengthRefusedFromHeader(t *testing.T) {
	ts := startServer(t)
	conn, br := rawUpgrade(t, ts.Addr())
	readHello(t, br)
	hdr := []byte{0x82, 0x80 | 127} // FIN+binary, masked, 64-bit length
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<40)
	hdr = append(hdr, 1, 2, 3, 4) // mask key; no payload follows
	if _, err := conn.Write(hdr); err != nil {
		t.Fatal(err)
	}
	op, p := rawFrame(t, br)
	var f proto.Frame
	if op != 2 || gproto.Unmarshal(p, &f) != nil || f.GetEvent().GetNotice().GetCode() != proto.Code_TOO_LARGE {
		t.Fatalf("first frame after the header: opcode %d, %v; want a TOO_LARGE Notice", op, &f)
	}
	if status := readCloseStatus(t, br); status != 4000+int(proto.Code_TOO_LARGE) {
		t.Fatalf("close status %d, want %d", status, 4000+int(proto.Code_TOO_LARGE))
	}
}

// rawUpgrade performs a WebSocket upgrade by hand.
func rawUpgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, br, status := upgradeWith(t, addr, "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", status)
	}
	return conn, br
}

// rawFrame reads one unmasked server frame.
func rawFrame(t *testing.T, br *bufio.Reader) (opcode byte, payload []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame header: %v", err)
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
	payload = make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	return h[0] & 0x0f, payload
}

func readHello(t *testing.T, br *bufio.Reader) {
	t.Helper()
	if op, _ := rawFrame(t, br); op != 2 {
		t.Fatalf("first frame opcode %d, want binary", op)
	}
}

// readCloseStatus skips data frames until a close frame and returns its
// status.
func readCloseStatus(t *testing.T, br *bufio.Reader) int {
	t.Helper()
	for {
		op, p := rawFrame(t, br)
		if op == 8 {
			if len(p) < 2 {
				t.Fatal("close frame without a status")
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

func TestHandshakeOnlyAuthenticateRegisterOrLink(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	for _, req := range []*proto.Request{
		ping,
		{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{Handle: "@bob"}}},
		{Body: &proto.Request_Send{Send: &proto.Send{}}},
	} {
		c.expectCode(req, proto.Code_UNAUTHENTICATED)
	}
}

func TestSignatureOverWrongChallenge(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts, "@alice")

	c := dial(t, ts)
	c.pub, c.priv = a.pub, a.priv
	// A signature made for the first connection's challenge is a replay
	// here.
	req := c.authReq()
	req.GetAuthenticate().Signature = a.sign()
	c.expectCode(req, proto.Code_BAD_SIGNATURE)
	// The connection may try again with the right challenge.
	r := c.mustCall(c.authReq())
	if r.GetAuth().AccountId != a.auth.AccountId {
		t.Fatalf("authenticated as %v", r.GetAuth())
	}
}

func TestUnknownDeviceAndVersionMismatch(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	c.newKey()
	c.expectCode(c.authReq(), proto.Code_NOT_FOUND)
	req := c.authReq()
	req.GetAuthenticate().ProtocolVersion = 99
	c.expectCode(req, proto.Code_UNSUPPORTED_VERSION)
	c.expectClosed(proto.Code_UNSUPPORTED_VERSION)
}

func TestTooManyFailedHandshakes(t *testing.T) {
	ts := startServer(t)
	c := dial(t, ts)
	c.newKey()
	for range 5 {
		c.expectCode(c.authReq(), proto.Code_NOT_FOUND)
	}
	c.expectClosed(proto.Code_BAD_REQUEST)
}

func TestHandshakeTimeout(t *testing.T) {
	ts := startServer(t, withFakeClock)
	c := dial(t, ts)
	// The server has armed its timers once Hello is out; move past the
	// handshake timeout.
	ts.clock.Advance(10*time.Second + time.Millisecond)
	c.expectClosed(proto.Code_HANDSHAKE_TIMEOUT)
	if v := counterValue(t, ts, "parley_handshake_failures_total", "HANDSHAKE_TIMEOUT"); v != 1 {
		t.Fatalf("handshake failure metric %v, want 1", v)
	}
}

func TestIdleTimeoutResetByFrames(t *testing.T) {
	ts := startServer(t, withFakeClock)
	c := register(t, ts, "@alice")
	// 80 s, a ping, 80 s more: alive, since the ping reset the timer.
	ts.clock.Advance(80 * time.Second)
	c.mustCall(ping)
	ts.clock.Advance(80 * time.Second)
	c.mustCall(ping)
	ts.clock.Advance(90 * time.Second)
	c.expectClosed(proto.Code_IDLE_TIMEOUT)
}

func TestRateLimited(t *testing.T) {
	ts := startServer(t, withFakeClock, func(c *server.Config) { c.RatePerSecond, c.RateBurst = 1, 3 })
	c := register(t, ts, "@alice") // takes one token
	c.mustCall(ping)
	c.mustCall(ping)
	c.expectCode(ping, proto.Code_RATE_LIMITED)
	ts.clock.Advance(time.Second)
	c.mustCall(ping)
}
