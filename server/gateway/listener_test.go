package gateway

import (
	"io"
	"net"
	"testing"
)

func TestParseUpgrade(t *testing.T) {
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	ok := "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	for _, c := range []struct {
		name, h string
		fast    bool
	}{
		{"valid", ok, true},
		{"header names in any case", "GET /v1/ws HTTP/1.1\r\nhost: x\r\nUPGRADE: WebSocket\r\nconnection: upgrade\r\nsec-websocket-key: " + key + "\r\nsec-websocket-version: 13\r\n", true},
		{"extra headers", ok + "User-Agent: bench\r\nSec-WebSocket-Extensions: permessage-deflate\r\n", true},
		{"other path", "GET /v1/wsx HTTP/1.1\r\nHost: x\r\n", false},
		{"query", "GET /v1/ws?x=1 HTTP/1.1\r\nHost: x\r\n", false},
		{"HTTP/1.0", "GET /v1/ws HTTP/1.0\r\nHost: x\r\n", false},
		{"POST", "POST /v1/ws HTTP/1.1\r\nHost: x\r\n", false},
		{"no upgrade", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"version 8", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 8\r\n", false},
		{"short key", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 13\r\n", false},
		{"two keys", ok + "Sec-WebSocket-Key: " + key + "\r\n", false},
		{"no host", "GET /v1/ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"origin (net/http checks it)", ok + "Origin: http://x\r\n", false},
		{"a body", ok + "Content-Length: 3\r\n", false},
		{"folded line", ok + " folded\r\n", false},
		{"no colon", ok + "junk\r\n", false},
		{"bare LF", ok + "X-A: a\nOrigin: http://evil\r\n", false},
		{"bare CR", ok + "X-A: a\rb\r\n", false},
		{"NUL", ok + "X-A: a\x00b\r\n", false},
		{"DEL", ok + "X-A: a\x7fb\r\n", false},
		{"non-ASCII value", ok + "User-Agent: caf\xc3\xa9\r\n", false},
		{"space in a name", ok + "X A: b\r\n", false},
		{"space before the colon", ok + "X-A : b\r\n", false},
		{"empty name", ok + ": b\r\n", false},
		{"host with a space", ok + "Host: a b\r\n", false},
		{"expect", ok + "Expect: 100-continue\r\n", false},
		{"empty key then a valid one", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key:\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n", false},
		{"version and a vertical tab", "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\x0b\r\n", false},
		{"tabs around values", "GET /v1/ws HTTP/1.1\r\nHost:\t[::1]:8080\t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key:\t" + key + "\t\r\nSec-WebSocket-Version: 13 \r\n", true},
	} {
		k, fast := parseUpgrade([]byte(c.h))
		if fast != c.fast || fast && k != key {
			t.Errorf("%s: fast %v key %q, want fast %v", c.name, fast, k, c.fast)
		}
	}
}

func TestCouldUpgrade(t *testing.T) {
	for _, c := range []struct {
		b    string
		want bool
	}{
		{"", true}, {"GE", true}, {"GET /v1/ws HTTP/1.1\r\nHost", true},
		{"GET /healthz", false}, {"POST", false}, {"GET /v1/ws?", false},
	} {
		if got := couldUpgrade([]byte(c.b)); got != c.want {
			t.Errorf("couldUpgrade(%q) = %v", c.b, got)
		}
	}
}

// A connection handed to net/http replays what the fast path read, then
// reads the socket; once replayed, the upgrade gets the socket itself.
func TestReplayConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	rc := &replayConn{Conn: a, pre: []byte("GET /")}
	if unwrapReplay(rc) != rc {
		t.Fatal("unwrapped before its bytes were read")
	}
	go b.Write([]byte("x HTTP/1.1"))
	buf := make([]byte, 15)
	if _, err := io.ReadFull(rc, buf); err != nil || string(buf) != "GET /x HTTP/1.1" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if unwrapReplay(rc) != a {
		t.Fatal("not unwrapped once replayed")
	}
}
