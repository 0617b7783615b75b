package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The machine's services (docs/operations.md says how to start them).
const (
	defaultNATS    = "nats://127.0.0.1:4222"
	natsServerBin  = "/usr/sbin/nats-server"
	postgresBinDir = "/usr/lib/postgresql/15/bin"
)

// machineNATS returns the machine's NATS URL; the test fails (never
// skips) when it is not running.
func machineNATS(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PARLEY_NATS_URL")
	if u == "" {
		u = defaultNATS
	}
	c, err := net.DialTimeout("tcp", hostPort(u), 2*time.Second)
	if err != nil {
		t.Fatalf("NATS is not reachable at %s (%v). Start it with:\n"+
			"  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log\n"+
			"or set PARLEY_NATS_URL.", u, err)
	}
	c.Close()
	return u
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// natsProcess is a nats-server the test owns, so it can stop it without
// disturbing the machine's service.
type natsProcess struct {
	t      *testing.T
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func startNATS(t *testing.T) *natsProcess {
	t.Helper()
	if _, err := os.Stat(natsServerBin); err != nil {
		t.Fatalf("%s is missing (%v); install it with: apt-get install -y nats-server", natsServerBin, err)
	}
	p := &natsProcess{t: t, port: freePort(t)}
	t.Cleanup(p.stop)
	p.start()
	return p
}

func (p *natsProcess) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", p.port) }

func (p *natsProcess) start() {
	p.t.Helper()
	cmd := exec.Command(natsServerBin, "-a", "127.0.0.1", "-p", strconv.Itoa(p.port))
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start nats-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	waitUntil(p.t, readyTimeout, "nats-server to listen", func() bool {
		c, err := net.DialTimeout("tcp", hostPort(p.URL()), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (p *natsProcess) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// privatePostgres is a PostgreSQL instance the test initializes in a
// temporary directory on its own port, so it can restart it without
// disturbing the machine's service (other tests use that one).
type privatePostgres struct {
	t    *testing.T
	dir  string
	port int
	as   []string // runs a command as the postgres user when we are root
}

// startPostgres initializes and starts a private instance. It skips the
// test, saying why, when the PostgreSQL server binaries are not there.
func startPostgres(t *testing.T) *privatePostgres {
	t.Helper()
	if _, err := os.Stat(filepath.Join(postgresBinDir, "initdb")); err != nil {
		t.Skipf("PostgreSQL server binaries not found in %s (%v): the PostgreSQL restart part cannot run here; apt-get install -y postgresql", postgresBinDir, err)
	}
	dir, err := os.MkdirTemp("", "parley-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &privatePostgres{t: t, dir: dir, port: freePort(t)}
	t.Cleanup(func() {
		p.pgctl("stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and there is no postgres user to run initdb as (%v)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.as = []string{"runuser", "-u", "postgres", "--"}
	}
	if out, err := p.run(filepath.Join(postgresBinDir, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	return p
}

func (p *privatePostgres) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, p.as...), name), args...)
	return exec.Command(argv[0], argv[1:]...).CombinedOutput()
}

func (p *privatePostgres) pgctl(args ...string) ([]byte, error) {
	return p.run(filepath.Join(postgresBinDir, "pg_ctl"), append([]string{"-D", filepath.Join(p.dir, "data"), "-w", "-t", "30"}, args...)...)
}

// DSN is the instance's postgres database over TCP.
func (p *privatePostgres) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

func (p *privatePostgres) start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", p.port, p.dir)
	if out, err := p.pgctl("start", "-l", filepath.Join(p.dir, "log"), "-o", opts); err != nil {
		p.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

// stop stops the instance the fast way: sessions are cut, committed data
// stays.
func (p *privatePostgres) stop() {
	p.t.Helper()
	if out, err := p.pgctl("stop", "-m", "fast"); err != nil {
		p.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}
