package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

func adminURL(ts *testServer, path string) string { return "http://" + ts.AdminAddr() + path }

func createInvite(t *testing.T, ts *testServer) string {
	t.Helper()
	resp, err := http.Post(adminURL(ts, "/v1/invites"), "application/json", strings.NewReader(`{"ttl_seconds": 3600}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /v1/invites: %s %s", resp.Status, b)
	}
	var inv struct {
		Code      string `json:"code"`
		ExpiresMs int64  `json:"expires_ms"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&inv); err != nil || inv.Code == "" || inv.ExpiresMs == 0 {
		t.Fatalf("invite response %+v, %v", inv, err)
	}
	return inv.Code
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdminEndpoints(t *testing.T) {
	ts := startServer(t)
	c := register(t, ts, "@alice")
	c.expectCode(&proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{Handle: "@nobody"}}}, proto.Code_NOT_FOUND)
	if code, body := get(t, adminURL(ts, "/healthz")); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, adminURL(ts, "/readyz")); code != 200 {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	code, body := get(t, adminURL(ts, "/metrics"))
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"parley_connections 1", "parley_connections_authenticated 1",
		`parley_errors_total{code="NOT_FOUND"} 1`, "parley_mailbox_in_flight", "parley_slow_consumer_cuts_total 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, bad := range []string{`{"ttl_seconds": -5}`, `{"ttl": 5}`, `{"ttl_seconds": 5} trailing`} {
		resp, err := http.Post(adminURL(ts, "/v1/invites"), "application/json", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("invite with %s: %s, want 400", bad, resp.Status)
		}
	}
}

func TestLoadConfigIsStrict(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := server.LoadConfig(write(`{"addr": "127.0.0.1:9000", "registration": "invite", "idle_timeout": "2m", "send_queue": 64}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:9000" || cfg.Registration != "invite" || cfg.IdleTimeout != 2*time.Minute || cfg.SendQueue != 64 {
		t.Fatalf("config %+v", cfg)
	}
	for _, bad := range []string{
		`{"adr": "127.0.0.1:9000"}`,   // typo
		`{"idle_timeout": "90"}`,      // no unit
		`{"idle_timeout": "-1s"}`,     // negative
		`{"addr": "x"} {"addr": "y"}`, // trailing data
	} {
		if _, err := server.LoadConfig(write(bad)); err == nil {
			t.Errorf("LoadConfig accepted %s", bad)
		}
	}
	if _, err := server.New(server.Config{Registration: "sometimes", DataDir: dir}); err == nil {
		t.Error("New accepted an unknown registration policy")
	}
}

func TestZeroConfigDefaults(t *testing.T) {
	// The zero value names the embedded store in ./parley-data; run it
	// from a temporary directory so nothing is left behind.
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	srv, err := server.New(server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "parley-data", server.DatabaseFile)); err != nil {
		t.Fatalf("zero config did not create the embedded store: %v", err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestLameDuckShutdown(t *testing.T) {
	base := runtime.NumGoroutine()
	ts := startServer(t, func(c *server.Config) { c.DrainPeriod = 200 * time.Millisecond })
	var clients []*client
	for i := range 5 {
		clients = append(clients, register(t, ts, "@user"+string(rune('a'+i))+"xx"))
	}
	waiting := dial(t, ts) // not yet authenticated
	clients = append(clients, waiting)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Shutdown took %v, beyond its deadline", took)
	}
	for _, c := range clients {
		c.expectClosed(proto.Code_SHUTTING_DOWN)
	}
	// Idempotent.
	if err := ts.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	// New connections are refused.
	if _, err := http.Get("http://" + ts.Addr() + "/v1/ws"); err == nil {
		t.Fatal("server still accepts connections after Shutdown")
	}
	for _, c := range clients {
		c.ws.CloseNow()
	}
	goroutinesSettle(t, base)
}

func TestShutdownDeadlineCutsUnresponsivePeers(t *testing.T) {
	ts := startServer(t)
	// A raw peer that never answers the close handshake.
	conn, br := rawUpgrade(t, ts.Addr())
	readHello(t, br)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	ts.cutShutdown = true
	ts.Shutdown(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Shutdown took %v with a 300ms deadline", took)
	}
	conn.Close()
}
