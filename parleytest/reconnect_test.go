package parleytest

import (
	"runtime"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
)

// TestReconnectAfterRestart: a lame-duck restart disconnects every
// device; each reconnects on its own (with backoff) and mail flows again.
func TestReconnectAfterRestart(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	if _, err := alice.Send(ctx, "@bob", "before"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "before")

	srv.Restart(t)
	WaitEvent(t, bob, func(e client.ConnectionEvent) bool { return !e.Connected })
	WaitEvent(t, bob, func(e client.ConnectionEvent) bool { return e.Connected })
	// Send waits for alice's reconnection by itself.
	if _, err := alice.Send(ctx, "@bob", "after restart"); err != nil {
		t.Fatal(err)
	}
	WaitMessage(t, bob, "after restart")
}

// TestCloseLeavesNoGoroutines: every goroutine a client starts is joined
// by Close.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	srv := NewServer(t)
	before := runtime.NumGoroutine()
	c := NewClient(t, srv, "@alice")
	if _, err := c.Devices(Ctx(t)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(WaitTimeout)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before the client, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}
