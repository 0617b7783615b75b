package main

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley/parleytest"
)

// TestServeCommand runs `parley serve` in-process with the invite policy,
// creates an invite with `parley admin invite`, registers with it, and
// stops the server by cancelling its context (as SIGINT does).
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), parleytest.WaitTimeout)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs([]string{"serve", "--addr", "127.0.0.1:0", "--admin-addr", "localhost:0",
			"--data", filepath.Join(dir, "data"), "--registration", "invite", "--log-level", "warn"})
		root.SetOut(pw)
		root.SetErr(io.Discard)
		done <- root.ExecuteContext(sctx)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var url, admin string
	for (url == "" || admin == "") && sc.Scan() {
		if m := regexp.MustCompile(`serving devices on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if m := regexp.MustCompile(`admin on (\S+)`).FindStringSubmatch(sc.Text()); m != nil {
			admin = m[1]
		}
	}
	if url == "" || admin == "" {
		t.Fatalf("serve did not say where it listens (url %q, admin %q)", url, admin)
	}
	go io.Copy(io.Discard, pr)

	alice := []string{"--profile", filepath.Join(dir, "alice"), "--server", url}
	if _, _, err := run(t, nil, append(alice, "register", "@alice")...); err == nil || !strings.Contains(err.Error(), "INVALID_INVITE") {
		t.Fatalf("register without an invite: %v", err)
	}
	code := strings.TrimSpace(mustRun(t, "admin", "invite", "--admin", admin))
	if code == "" {
		t.Fatal("admin invite printed no code")
	}
	mustRun(t, append(alice, "register", "@alice", "--invite", code)...)

	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve after SIGINT: %v", err)
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.json")
	writeFile(t, cfg, `{"addr": "127.0.0.1:0", "registraton": "open"}`)
	if _, _, err := run(t, nil, "serve", "--config", cfg); err == nil || !strings.Contains(err.Error(), "registraton") {
		t.Fatalf("a config with a typo: %v", err)
	}
	if _, _, err := run(t, nil, "serve", "--registration", "maybe", "--addr", "127.0.0.1:0", "--admin-addr", "off",
		"--data", t.TempDir()); err == nil {
		t.Fatal("an unknown registration policy was accepted")
	}
}
