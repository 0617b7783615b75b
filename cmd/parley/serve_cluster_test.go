package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeClusterFlags: --nats without --postgres is refused with what to
// add, from the command line and from a config file.
func TestServeClusterFlags(t *testing.T) {
	_, _, err := run(t, nil, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "off", "--data", t.TempDir(), "--nats", "nats://127.0.0.1:4222")
	if err == nil || !strings.Contains(err.Error(), "--postgres") {
		t.Fatalf("serve --nats without --postgres: %v, want an error naming --postgres", err)
	}
	cfg := filepath.Join(t.TempDir(), "parley.json")
	if err := os.WriteFile(cfg, []byte(`{"nats_url": "nats://127.0.0.1:4222", "nats_prefix": "p", "addr": "127.0.0.1:0", "admin_addr": "off"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = run(t, nil, "serve", "--config", cfg, "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Fatalf("serve with nats_url and no postgres_dsn: %v, want an error naming postgres", err)
	}
}
