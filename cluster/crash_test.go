package cluster

import (
	"path/filepath"
	"testing"
	"time"
)

// TestCrashEmbedded kills a single node on the embedded store with SIGKILL
// during sustained sends, restarts it on the same data, several times;
// afterwards every acknowledged message has reached every recipient
// device exactly once.
func TestCrashEmbedded(t *testing.T) {
	kills, between, pace := 3, 20, 20*time.Millisecond
	if soak() {
		kills, between = 12, 200
	}
	n := startNode(t, "solo", "--data", filepath.Join(t.TempDir(), "data"))
	f := newFleet(t, n)
	alice := f.register("@alice", 0)
	bob := f.register("@bob", 0)
	carol := f.register("@carol", 0)
	f.link(bob, 0)
	routes := []route{{alice, "@bob"}, {bob, "@alice"}, {carol, "@alice"}, {carol, "@bob"}}
	for _, r := range routes {
		if err := f.send(r.from, r.to, "hello"); err != nil {
			t.Fatalf("first message %s → %s: %v", r.from.handle, r.to, err)
		}
	}

	l := f.startLoad(routes, pace)
	for i := range kills {
		f.progress(between, time.Minute)
		n.kill()
		t.Logf("kill %d: %d acknowledged so far", i+1, f.ackedCount())
		n.start()
	}
	f.progress(between, time.Minute)
	l.end()
	v := f.verify(time.Minute)
	t.Logf("after %d kills: %v", kills, v)
}
