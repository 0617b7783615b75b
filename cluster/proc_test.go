package cluster

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var long = flag.Bool("parley.long", false, "run the soak versions of the fault tests (also PARLEY_SOAK=1)")

// soak reports whether the long versions run.
func soak() bool { return *long || os.Getenv("PARLEY_SOAK") == "1" }

// Bounds of the harness.
const (
	// readyTimeout bounds a node's start (open the store, listen).
	readyTimeout = 30 * time.Second
	// stopTimeout bounds a graceful stop; the process is killed after.
	stopTimeout = 30 * time.Second
	// logTail is how many lines of a node's log a failing test prints.
	logTail = 40
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// parleyBinary builds cmd/parley once per run of the package.
func parleyBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "parley-cluster-bin-"); binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "parley")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/parleyhq/parley/cmd/parley").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build cmd/parley: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// node is one `parley serve` process, restartable on the same ports and
// data.
type node struct {
	t      *testing.T
	name   string
	args   []string // serve flags besides the addresses
	Addr   string   // devices connect here
	admin  string
	log    string // file collecting the output of every run
	cmd    *exec.Cmd
	exited chan struct{}
}

// startNode runs `parley serve` with args on fresh loopback ports and
// waits until it is ready. It is killed at cleanup, and its log is
// printed if the test failed.
func startNode(t *testing.T, name string, args ...string) *node {
	t.Helper()
	n := &node{
		t: t, name: name, args: args,
		Addr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		log:   filepath.Join(t.TempDir(), name+".log"),
	}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("last lines of %s's log:\n%s", n.name, tail(n.log, logTail))
		}
	})
	n.start()
	return n
}

// start runs the process and waits for /readyz.
func (n *node) start() {
	n.t.Helper()
	out, err := os.OpenFile(n.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	fmt.Fprintf(out, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	args := append([]string{"serve", "--addr", n.Addr, "--admin-addr", n.admin, "--log-level", "warn"}, n.args...)
	cmd := exec.Command(parleyBinary(n.t), args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		n.t.Fatalf("start %s: %v", n.name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); out.Close(); close(exited) }()
	n.cmd, n.exited = cmd, exited
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-exited:
			n.t.Fatalf("%s exited while starting:\n%s", n.name, tail(n.log, logTail))
		case <-tick.C:
		}
		if n.ready() {
			return
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s not ready within %v:\n%s", n.name, readyTimeout, tail(n.log, logTail))
		}
	}
}

func (n *node) ready() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + n.admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// kill ends the process with SIGKILL (no drain, no flush) and waits.
func (n *node) kill() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.cmd = nil
}

// stop ends the process with SIGTERM (lame duck) and waits.
func (n *node) stop() {
	n.t.Helper()
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		n.t.Errorf("%s did not stop within %v of SIGTERM; killing it", n.name, stopTimeout)
		n.kill()
	}
	n.cmd = nil
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

// hostPort strips a scheme from a URL-ish address.
func hostPort(url string) string {
	if i := strings.Index(url, "://"); i >= 0 {
		url = url[i+3:]
	}
	return url
}
