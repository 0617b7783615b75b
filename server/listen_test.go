package server_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/parleyhq/parley/server"
)

// upgradeStatus sends a WebSocket upgrade with the extra header lines
// and returns the HTTP status of the answer; the connection stays open
// until the test ends.
func upgradeStatus(t *testing.T, addr, extra string) int {
	status, _ := upgradeWith(t, addr, extra)
	return status
}

// upgradeWith is upgradeStatus that also returns the reader of what
// follows the answer.
func upgradeWith(t *testing.T, addr, extra string) (int, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(wait))
	fmt.Fprintf(conn, "GET /v1/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
		addr, base64.StdEncoding.EncodeToString(make([]byte, 16)), extra)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, br
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
	got, br := upgradeWith(t, addr, "Origin: http://"+addr+"\r\n")
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
