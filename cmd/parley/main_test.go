package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

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

// startLink runs `parley link` for args in the background and returns the
// code and device id it printed, and its result once it ends.
func startLink(t *testing.T, args []string) (code, device string, done <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	result := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs(append(args, "link"))
		root.SetOut(pw)
		root.SetErr(io.Discard)
		ctx, cancel := context.WithTimeout(context.Background(), parleytest.WaitTimeout)
		defer cancel()
		result <- root.ExecuteContext(ctx)
		pw.Close()
	}()
	buf := make([]byte, 4096)
	var seen strings.Builder
	re := regexp.MustCompile(`link code: (\S+)\nthis device: (d[a-z2-7]{16})\n`)
	for code == "" {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("link ended before printing a code and device id: %v (%q)", err, seen.String())
		}
		seen.Write(buf[:n])
		if m := re.FindStringSubmatch(seen.String()); m != nil {
			code, device = m[1], m[2]
		}
	}
	if !strings.Contains(seen.String(), "--device "+device) {
		// The instruction line may come in the next read.
		n, _ := pr.Read(buf)
		seen.Write(buf[:n])
	}
	if !strings.Contains(seen.String(), "parley link --approve "+code+" --device "+device) {
		t.Fatalf("link does not tell how to approve with the device id: %q", seen.String())
	}
	go io.Copy(io.Discard, pr)
	return code, device, result
}

func TestLinkCommands(t *testing.T) {
	srv := parleytest.NewServer(t)
	dir := t.TempDir()
	alice := []string{"--profile", filepath.Join(dir, "alice"), "--server", srv.URL}
	alice2 := []string{"--profile", filepath.Join(dir, "alice2"), "--server", srv.URL}
	mustRun(t, append(alice, "register", "@alice")...)

	// `parley link` prints the code and its device id and waits; approve
	// it from the primary.
	code, device, done := startLink(t, alice2)

	// Approving needs the device id, and refuses another one.
	if _, _, err := run(t, nil, append(alice, "link", "--approve", code)...); err == nil || !strings.Contains(err.Error(), "--device") {
		t.Fatalf("approve without --device from a non-terminal: %v", err)
	}
	other := "daaaaaaaaaaaaaaaa"
	if _, _, err := run(t, nil, append(alice, "link", "--approve", code, "--device", other)...); err == nil || !strings.Contains(err.Error(), device) {
		t.Fatalf("approve with the wrong device id: %v", err)
	}
	if out := mustRun(t, append(alice, "devices")...); strings.Count(out, "\n") != 1 {
		t.Fatalf("a mismatching approval added a device:\n%s", out)
	}

	out := mustRun(t, append(alice, "link", "--approve", code, "--device", device)...)
	if !strings.Contains(out, "linked device "+device) {
		t.Fatalf("approve printed %q", out)
	}
	if err := <-done; err != nil {
		t.Fatalf("link: %v", err)
	}
	out = mustRun(t, append(alice2, "devices")...)
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "* "+device) {
		t.Fatalf("devices after linking:\n%s", out)
	}
	mustRun(t, append(alice, "devices", "revoke", device)...)
	if _, _, err := run(t, nil, append(alice2, "devices")...); err == nil {
		t.Fatal("a revoked device still lists devices")
	}
}

// TestLinkApproveInteractive: in a terminal, approve shows the waiting
// device's id and name and approves only on "yes".
func TestLinkApproveInteractive(t *testing.T) {
	old := stdinIsTerminal
	stdinIsTerminal = func(io.Reader) bool { return true }
	t.Cleanup(func() { stdinIsTerminal = old })
	srv := parleytest.NewServer(t)
	dir := t.TempDir()
	alice := []string{"--profile", filepath.Join(dir, "alice"), "--server", srv.URL}
	alice2 := []string{"--profile", filepath.Join(dir, "alice2"), "--server", srv.URL, "--device-name", "tablet"}
	mustRun(t, append(alice, "register", "@alice")...)
	code, device, done := startLink(t, alice2)

	out, _, err := run(t, strings.NewReader("no\n"), append(alice, "link", "--approve", code)...)
	if err == nil || !strings.Contains(out, device) || !strings.Contains(out, `"tablet"`) {
		t.Fatalf("answering no: %v, printed %q", err, out)
	}
	out, _, err = run(t, strings.NewReader("yes\n"), append(alice, "link", "--approve", code)...)
	if err != nil || !strings.Contains(out, "linked device "+device) {
		t.Fatalf("answering yes: %v, printed %q", err, out)
	}
	if err := <-done; err != nil {
		t.Fatalf("link: %v", err)
	}
}

func TestSendRecvChat(t *testing.T) {
	if !client.EncryptionAvailable() {
		t.Fatal("this build has no MLS engine; the client refuses to send")
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

// syncBuffer is an output buffer a test can wait on while a command
// writes to it.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// contains reports whether the output has want, and if not returns a
// channel closed at the next write.
func (s *syncBuffer) contains(want string) (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.Contains(s.b.String(), want) {
		return true, nil
	}
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return false, s.changed
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput waits until the command's output contains want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	timeout := time.NewTimer(parleytest.WaitTimeout)
	defer timeout.Stop()
	for {
		ok, changed := out.contains(want)
		if ok {
			return
		}
		select {
		case <-changed:
		case <-timeout.C:
			t.Fatalf("output never contained %q:\n%s", want, out.String())
		}
	}
}

// TestKeyChangeWarnings: chat and recv tell the user when the devices of
// the account they talk to changed.
func TestKeyChangeWarnings(t *testing.T) {
	srv := parleytest.NewServer(t)
	dir := t.TempDir()
	alice := []string{"--profile", filepath.Join(dir, "alice"), "--server", srv.URL}
	alice2 := []string{"--profile", filepath.Join(dir, "alice2"), "--server", srv.URL}
	bob := []string{"--profile", filepath.Join(dir, "bob"), "--server", srv.URL}
	mustRun(t, append(alice, "register", "@alice")...)
	mustRun(t, append(bob, "register", "@bob")...)
	mustRun(t, append(alice, "send", "@bob", "hi")...)
	mustRun(t, append(bob, "recv", "--wait", "5s")...)

	// Bob is chatting when alice links a device.
	stdin, typed := io.Pipe()
	chatOut := &syncBuffer{}
	chatDone := make(chan error, 1)
	go func() {
		root := newRoot()
		root.SetArgs(append(bob, "chat", "@alice"))
		root.SetIn(stdin)
		root.SetOut(chatOut)
		root.SetErr(io.Discard)
		ctx, cancel := context.WithTimeout(context.Background(), parleytest.WaitTimeout)
		defer cancel()
		chatDone <- root.ExecuteContext(ctx)
	}()
	waitOutput(t, chatOut, "chat with @alice")
	code, device, linked := startLink(t, alice2)
	mustRun(t, append(alice, "link", "--approve", code, "--device", device)...)
	if err := <-linked; err != nil {
		t.Fatal(err)
	}
	waitOutput(t, chatOut, "! warning: the devices of @alice changed; added ["+device+"]")
	typed.Write([]byte("/quit\n"))
	if err := <-chatDone; err != nil {
		t.Fatal(err)
	}

	// Bob is offline when alice revokes it; recv warns on stderr.
	mustRun(t, append(alice, "devices", "revoke", device)...)
	mustRun(t, append(alice, "send", "@bob", "after revoke")...)
	out, errOut, err := run(t, nil, append(bob, "recv", "--wait", "5s")...)
	if err != nil || out != "@alice: after revoke\n" {
		t.Fatalf("recv: %v, printed %q", err, out)
	}
	if !strings.Contains(errOut, "warning: the devices of @alice changed; removed ["+device+"]") {
		t.Fatalf("recv's stderr has no key-change warning: %q", errOut)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
