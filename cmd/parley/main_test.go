package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/parleytest"
)

// run executes the parley command line in-process.
func run(t *testing.T, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	root.SetIn(stdin)
	ctx, cancel := context.WithTimeout(context.Background(), parleytest.WaitTimeout)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, nil, args...)
	if err != nil {
		t.Fatalf("parley %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func TestHelpIsComplete(t *testing.T) {
	root := newRoot()
	for _, c := range root.Commands() {
		if c.Short == "" {
			t.Errorf("%s has no help text", c.Name())
		}
		for _, sub := range c.Commands() {
			if sub.Short == "" {
				t.Errorf("%s %s has no help text", c.Name(), sub.Name())
			}
		}
	}
	out := mustRun(t, "--help")
	for _, want := range []string{"serve", "register", "send", "recv", "chat", "link", "devices", "safety-number"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

func TestAccountCommands(t *testing.T) {
	srv := parleytest.NewServer(t)
	dir := t.TempDir()
	alice := []string{"--profile", filepath.Join(dir, "alice"), "--server", srv.URL}
	bob := []string{"--profile", filepath.Join(dir, "bob"), "--server", srv.URL}

	out := mustRun(t, append(alice, "register", "@alice")...)
	if !strings.Contains(out, "registered @alice") {
		t.Fatalf("register printed %q", out)
	}
	mustRun(t, append(bob, "register", "@Bob")...)
	if _, _, err := run(t, nil, append(alice, "register", "@alice")...); err == nil {
		t.Fatal("registering a registered profile again succeeded")
	}
	// The server is remembered: no --server needed any more.
	out = mustRun(t, "--profile", filepath.Join(dir, "alice"), "devices")
	if !regexp.MustCompile(`^\* d[a-z2-7]{16}  primary`).MatchString(out) {
		t.Fatalf("devices printed %q", out)
	}
	a := mustRun(t, append(alice, "safety-number", "@bob")...)
	b := mustRun(t, append(bob, "safety-number", "@alice")...)
	if a != b || len(strings.TrimSpace(a)) < 60 {
		t.Fatalf("safety numbers %q vs %q", a, b)
	}

	mustRun(t, append(bob, "privacy", "presence", "nobody")...)
	if out := mustRun(t, append(alice, "presence", "@bob")...); !strings.Contains(out, "hidden") {
		t.Fatalf("presence of a hidden account printed %q", out)
	}
	mustRun(t, append(bob, "privacy", "presence", "everyone")...)
	if out := mustRun(t, append(alice, "presence", "@bob")...); strings.Contains(out, "hidden") {
		t.Fatalf("presence printed %q", out)
	}
	mustRun(t, append(alice, "contacts", "add", "@bob")...)
	if out := mustRun(t, append(alice, "contacts")...); out != "@bob\n" {
		t.Fatalf("contacts printed %q", out)
	}
	mustRun(t, append(alice, "block", "@bob")...)
	mustRun(t, append(alice, "unblock", "@bob")...)

	if _, _, err := run(t, nil, append(alice, "privacy", "presence", "friends")...); err == nil {
		t.Fatal("an unknown presence setting was accepted")
	}
	_, _, err := run(t, nil, "--profile", filepath.Join(dir, "nobody"), "--server", srv.URL, "send", "@bob", "hi")
	if err == nil || !strings.Contains(err.Error(), "register") {
		t.Fatalf("send from an unregistered profile: %v", err)
	}
}

func TestLinkCommands(t *testing.T) {
	srv := parleytest.NewServer(t)
	dir := t.TempDir()
	alice := []string{"--profile", filepath.Join(dir, "alice"), "--server", srv.URL}
	alice2 := []string{"--profile", filepath.Join(dir, "alice2"), "--server", srv.URL}
	mustRun(t, append(alice, "register", "@alice")...)

	// `parley link` prints the code and waits; approve it from the primary.
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs(append(alice2, "link"))
		root.SetOut(pw)
		root.SetErr(io.Discard)
		ctx, cancel := context.WithTimeout(context.Background(), parleytest.WaitTimeout)
		defer cancel()
		done <- root.ExecuteContext(ctx)
		pw.Close()
	}()
	var code string
	buf := make([]byte, 4096)
	var seen strings.Builder
	for code == "" {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("link ended before printing a code: %v (%q)", err, seen.String())
		}
		seen.Write(buf[:n])
		if m := regexp.MustCompile(`link code: (\S+)`).FindStringSubmatch(seen.String()); m != nil {
			code = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	out := mustRun(t, append(alice, "link", "--approve", code)...)
	if !strings.Contains(out, "linked device") {
		t.Fatalf("approve printed %q", out)
	}
	if err := <-done; err != nil {
		t.Fatalf("link: %v", err)
	}
	out = mustRun(t, append(alice2, "devices")...)
	if strings.Count(out, "\n") != 2 {
		t.Fatalf("devices after linking:\n%s", out)
	}
	id := regexp.MustCompile(`\* (d[a-z2-7]{16})`).FindStringSubmatch(out)[1]
	mustRun(t, append(alice, "devices", "revoke", id)...)
	if _, _, err := run(t, nil, append(alice2, "devices")...); err == nil {
		t.Fatal("a revoked device still lists devices")
	}
}

func TestSendRecvChat(t *testing.T) {
	if !client.EncryptionAvailable() {
		t.Skip("this build has no MLS engine; the client refuses to send")
	}
	srv := parleytest.NewServer(t)
	dir := t.TempDir()
	alice := []string{"--profile", filepath.Join(dir, "alice"), "--server", srv.URL}
	bob := []string{"--profile", filepath.Join(dir, "bob"), "--server", srv.URL}
	mustRun(t, append(alice, "register", "@alice")...)
	mustRun(t, append(bob, "register", "@bob")...)

	mustRun(t, append(alice, "send", "@bob", "hello")...)
	if out := mustRun(t, append(bob, "recv", "--wait", "5s")...); out != "@alice: hello\n" {
		t.Fatalf("recv printed %q", out)
	}
	// Shown once: a second recv has nothing.
	if out := mustRun(t, append(bob, "recv")...); out != "" {
		t.Fatalf("second recv printed %q", out)
	}
	mustRun(t, append(alice, "send", "@bob", "as json")...)
	out := mustRun(t, append(bob, "recv", "--wait", "5s", "--json")...)
	for _, want := range []string{`"sender":"@alice"`, `"text":"as json"`, `"id":"`, `"conversation":"`, `"sent":"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("recv --json printed %q, missing %s", out, want)
		}
	}

	// chat: a line typed is sent; /quit leaves.
	_, _, err := run(t, strings.NewReader("from chat\n/quit\n"), append(bob, "chat", "@alice")...)
	if err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, append(alice, "recv", "--wait", "5s")...); !strings.Contains(out, "@bob: from chat") {
		t.Fatalf("alice's recv printed %q", out)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
