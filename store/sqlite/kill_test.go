package sqlite

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

const killChildEnv = "PARLEY_SQLITE_KILL_CHILD"

// TestKillChild is the child of TestDurableAfterKill: it delivers batches
// until killed, printing the last sequence of every acknowledged batch.
func TestKillChild(t *testing.T) {
	path := os.Getenv(killChildEnv)
	if path == "" {
		t.Skip("child process of TestDurableAfterKill")
	}
	s, err := Open(t.Context(), path)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	for n := 0; ; {
		subs := make([]store.Submission, 16)
		for i := range subs {
			n++
			subs[i] = store.Submission{SenderDevice: "dev-a", MessageID: []byte(strconv.Itoa(n)), At: storetest.T0,
				Mail: []store.Mail{{DeviceID: "dev-x", Envelope: []byte(strconv.Itoa(n)), Expires: storetest.T0.Add(1e12)}}}
		}
		if _, err := s.Deliver(t.Context(), subs); err != nil {
			fmt.Println("error", err)
			return
		}
		fmt.Println("acked", subs[len(subs)-1].Mail[0].Seq)
	}
}

// TestDurableAfterKill: everything Deliver acknowledged is there after the
// process is killed with SIGKILL mid-write.
func TestDurableAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "kill.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked uint64
	lines := bufio.NewScanner(out)
	for lines.Scan() && acked < 40*16 {
		f := strings.Fields(lines.Text())
		if len(f) == 2 && f[0] == "acked" {
			acked, _ = strconv.ParseUint(f[1], 10, 64)
		} else if len(f) > 0 && f[0] == "error" {
			t.Fatalf("child: %s", lines.Text())
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if acked == 0 {
		t.Fatalf("child acknowledged nothing")
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open after kill: %v", err)
	}
	defer s.Close()
	n, last, err := s.MailboxDepth(t.Context(), "dev-x")
	if err != nil {
		t.Fatal(err)
	}
	if last < acked || uint64(n) != last {
		t.Fatalf("after kill: depth %d, last seq %d; %d were acknowledged", n, last, acked)
	}
	var seq uint64
	for seq < acked {
		ms, err := s.Fetch(t.Context(), "dev-x", seq, MaxFetch, storetest.T0)
		if err != nil || len(ms) == 0 {
			t.Fatalf("Fetch after %d: %d mails, %v", seq, len(ms), err)
		}
		for _, m := range ms {
			seq++
			if m.Seq != seq || string(m.Envelope) != strconv.FormatUint(seq, 10) {
				t.Fatalf("mail %d = seq %d %q", seq, m.Seq, m.Envelope)
			}
		}
	}
	t.Logf("%d acknowledged, %d found after kill -9", acked, last)
}
