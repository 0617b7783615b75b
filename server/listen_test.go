package server_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/server"
)

// upgradeStatus sends a WebSocket upgrade with the extra header lines
// and returns the HTTP status of the answer; the connection stays open
// until the test ends.
func upgradeStatus(t *testing.T, addr, extra string) int {
	t.Helper()
	_, _, status := upgradeWith(t, addr, extra)
	return status
}

// upgradeWith is upgradeStatus that also returns the connection and the
// reader of what follows the answer.
func upgradeWith(t *testing.T, addr, extra string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	conn, br, resp := dialRequest(t, addr, fmt.Sprintf("GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
		addr, base64.StdEncoding.EncodeToString(make([]byte, 16)), extra))
	return conn, br, resp.StatusCode
}

// dialRequest connects to addr, sends raw and reads the answer's status
// line and header; the connection stays open until the test ends.
func dialRequest(t *testing.T, addr, raw string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(wait))
	if _, err := conn.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return conn, br, resp
}

// The gateway answers plain upgrades itself and leaves the rest to
// net/http, which answers exactly as before: a browser of another origin,
// a request that is no upgrade, another path, and the connection limit.
func TestUpgradePaths(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxConnections = 2 })
	addr := ts.Addr()
	if got := upgradeStatus(t, addr, "Origin: http://evil.example\r\n"); got != http.StatusForbidden {
		t.Errorf("foreign origin: %d, want 403", got)
	}
	_, br, got := upgradeWith(t, addr, "Origin: http://"+addr+"\r\n")
	if got != http.StatusSwitchingProtocols {
		t.Fatalf("same origin (through net/http): %d, want 101", got)
	}
	if op, _ := rawFrame(t, br); op != 2 {
		t.Fatalf("same origin: first frame opcode %d, want a binary Hello", op)
	}
	resp, err := http.Get("http://" + addr + "/v1/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %d, want 426", resp.StatusCode)
	}
	resp, err = http.Get("http://" + addr + "/no-such-path")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("another path: %d, want 404", resp.StatusCode)
	}
	// The fast path: a plain upgrade gets 101 and the Hello.
	conn, br := rawUpgrade(t, addr)
	if op, _ := rawFrame(t, br); op != 2 {
		t.Fatalf("first frame: opcode %d, want a binary Hello", op)
	}
	// With the same-origin one, that is two: the next is refused with
	// 503, by net/http.
	if got := upgradeStatus(t, addr, ""); got != http.StatusServiceUnavailable {
		t.Errorf("over the limit: %d, want 503", got)
	}
	conn.Close()
}

// requestStatus sends "GET /v1/ws HTTP/1.1", the header lines and the
// blank line, and returns the HTTP status of the answer; the connection
// stays open until the test ends.
func requestStatus(t *testing.T, addr, header string) int {
	t.Helper()
	_, _, resp := dialRequest(t, addr, "GET /v1/ws HTTP/1.1\r\n"+header+"\r\n")
	return resp.StatusCode
}

// The gateway's own reading of an upgrade (the fast path) answers every
// request as net/http does: each header below is sent once as it is,
// within the fast path's 1 KiB, and once behind a padding line that takes
// the header past it, to net/http. The two answers must agree, and agree
// with the status net/http gives (want).
func TestUpgradeFastPathAgreesWithNetHTTP(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.MaxConnections = 100 })
	addr := ts.Addr()
	key := base64.StdEncoding.EncodeToString(make([]byte, 16))
	host := "Host: " + addr + "\r\n"
	upg := "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	ver := "Sec-WebSocket-Version: 13\r\n"
	keyLine := "Sec-WebSocket-Key: " + key + "\r\n"
	ok := host + upg + keyLine + ver
	for _, c := range []struct {
		name, header string
		want         int
	}{
		{"valid", ok, http.StatusSwitchingProtocols},
		{"bare LF hides an Origin", ok + "X-A: a\nOrigin: http://evil.example\r\n", http.StatusForbidden},
		{"bare LF ends the header", ok + "X-A: b\n", http.StatusSwitchingProtocols},
		{"bare LF ends the version line", host + upg + keyLine + "Sec-WebSocket-Version: 8\nX: 13\r\n", http.StatusBadRequest},
		{"NUL in a value", ok + "X-A: a\x00b\r\n", http.StatusBadRequest},
		{"bare CR in a value", ok + "X-A: a\rb\r\n", http.StatusBadRequest},
		{"DEL in a value", ok + "X-A: a\x7fb\r\n", http.StatusBadRequest},
		{"space inside a name", ok + "X A: b\r\n", http.StatusBadRequest},
		{"space before the colon", ok + "X-A : b\r\n", http.StatusBadRequest},
		{"separator in a name", ok + "X(A): b\r\n", http.StatusBadRequest},
		{"empty name", ok + ": b\r\n", http.StatusBadRequest},
		{"host with a space", "Host: a b\r\n" + upg + keyLine + ver, http.StatusBadRequest},
		{"host with a slash", "Host: a/b\r\n" + upg + keyLine + ver, http.StatusBadRequest},
		{"two hosts", ok + host, http.StatusBadRequest},
		{"empty host", "Host:\r\n" + upg + keyLine + ver, http.StatusSwitchingProtocols},
		{"IPv6 host and zone", "Host: [fe80::1%25lo]:1\r\n" + upg + keyLine + ver, http.StatusSwitchingProtocols},
		{"host with sub-delims", "Host: a!b\r\n" + upg + keyLine + ver, http.StatusSwitchingProtocols},
		{"empty key then a valid one", host + upg + "Sec-WebSocket-Key:\r\n" + keyLine + ver, http.StatusBadRequest},
		{"version with a vertical tab", host + upg + keyLine + "Sec-WebSocket-Version: 13\x0b\r\n", http.StatusBadRequest},
		{"version with a form feed", host + upg + keyLine + "Sec-WebSocket-Version: 13\x0c\r\n", http.StatusBadRequest},
		{"version with a no-break space", host + upg + keyLine + "Sec-WebSocket-Version: 13\xc2\xa0\r\n", http.StatusBadRequest},
		{"key with a vertical tab", host + upg + "Sec-WebSocket-Key: " + key + "\x0b\r\n" + ver, http.StatusBadRequest},
		{"tabs around values", "Host:\t" + addr + "\t\r\n" + upg + "Sec-WebSocket-Key:\t" + key + "\t\r\n" + "Sec-WebSocket-Version:\t13\t\r\n", http.StatusSwitchingProtocols},
		{"folded line", ok + "X-A: a\r\n b\r\n", http.StatusSwitchingProtocols},
		{"Expect", ok + "Expect: something\r\n", http.StatusExpectationFailed},
		{"no upgrade token", host + "Upgrade: websocket\r\nConnection: keep-alive\r\n" + keyLine + ver, http.StatusUpgradeRequired},
		{"upgrade token with a vertical tab", host + "Upgrade: websocket\x0b\r\nConnection: Upgrade\r\n" + keyLine + ver, http.StatusBadRequest},
	} {
		pad := "X-Pad: " + strings.Repeat("p", 1100) + "\r\n" // past the fast path's 1 KiB
		fast, slow := requestStatus(t, addr, c.header), requestStatus(t, addr, pad+c.header)
		if fast != slow || fast != c.want {
			t.Errorf("%s: %d straight, %d through net/http; want %d", c.name, fast, slow, c.want)
		}
	}
}
