package schedule

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/mls/suite"
)

func newTree(t *testing.T, n uint32) *SecretTree {
	t.Helper()
	s, err := suite.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	return NewSecretTree(s, s.DeriveSecret(s.Zero(), "x"), n)
}

func TestRatchetOrdering(t *testing.T) {
	send, recv := newTree(t, 5), newTree(t, 5)
	var keys []KeyNonce
	for i := 0; i < 10; i++ {
		kn, err := send.Next(3, Application)
		if err != nil || kn.Generation != uint32(i) {
			t.Fatalf("Next: %v gen %d", err, kn.Generation)
		}
		keys = append(keys, kn)
	}
	// Out of order: 7 first, then 2, then 7 again (replay).
	for _, g := range []uint32{7, 2, 9, 0} {
		kn, err := recv.Get(3, Application, g)
		if err != nil || !kn.Key.Equal(keys[g].Key) || string(kn.Nonce) != string(keys[g].Nonce) {
			t.Fatalf("generation %d: %v", g, err)
		}
	}
	for _, g := range []uint32{7, 2, 9, 0} {
		if _, err := recv.Get(3, Application, g); !errors.Is(err, ErrGenerationReused) {
			t.Fatalf("replay of %d: %v", g, err)
		}
	}
	// The other ratchet and other leaves are independent.
	if kn, err := recv.Get(3, Handshake, 0); err != nil || kn.Key.Equal(keys[0].Key) {
		t.Fatal("handshake ratchet shares keys with application ratchet")
	}
	if _, err := recv.Get(5, Handshake, 0); !errors.Is(err, ErrLeafOutOfRange) {
		t.Fatal("leaf out of range accepted")
	}
}

func TestRatchetBounds(t *testing.T) {
	tr := newTree(t, 2)
	if _, err := tr.Get(0, Application, MaxForwardRatchet+1); !errors.Is(err, ErrGenerationTooFar) {
		t.Fatalf("too far: %v", err)
	}
	if _, err := tr.Get(0, Application, MaxForwardRatchet); err != nil {
		t.Fatal(err)
	}
	// Skipping 1000 keys then 1000 more evicts the oldest.
	if _, err := tr.Get(0, Application, 2*MaxForwardRatchet); err != nil {
		t.Fatal(err)
	}
	r := tr.leaves[0].application
	if len(r.skipped) > MaxSkippedKeys {
		t.Fatalf("%d skipped keys kept", len(r.skipped))
	}
	if _, err := tr.Get(0, Application, 0); !errors.Is(err, ErrGenerationReused) {
		t.Fatal("evicted key still available")
	}
	if _, err := tr.Get(0, Application, 2*MaxForwardRatchet-1); err != nil {
		t.Fatal("recent skipped key lost")
	}
}

func TestPeekConsume(t *testing.T) {
	tr := newTree(t, 2)
	a, err := tr.Peek(1, Handshake, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.Peek(1, Handshake, 4)
	if err != nil || !a.Key.Equal(b.Key) {
		t.Fatal("peek consumed the key")
	}
	tr.Consume(1, Handshake, 4)
	if _, err := tr.Get(1, Handshake, 4); !errors.Is(err, ErrGenerationReused) {
		t.Fatal("consumed key still available")
	}
	if _, err := tr.Get(1, Handshake, 3); err != nil {
		t.Fatal(err)
	}
}

func TestTreeShape(t *testing.T) {
	for n, want := range map[uint32]uint32{1: 0, 2: 1, 3: 3, 4: 3, 5: 7, 8: 7, 9: 15} {
		if got := rootIndex(n); got != want {
			t.Errorf("root(%d) = %d, want %d", n, got, want)
		}
	}
	// Every leaf of a non-power-of-two tree is reachable.
	tr := newTree(t, 7)
	for leaf := uint32(0); leaf < 7; leaf++ {
		if _, err := tr.Next(leaf, Handshake); err != nil {
			t.Fatalf("leaf %d: %v", leaf, err)
		}
	}
	for i, s := range tr.nodes {
		if !s.IsZero() && i%2 == 1 {
			t.Fatalf("parent secret %d kept after both children derived", i)
		}
	}
}

// TestSkippedQueueStaysBounded: one early generation that never arrives
// must not make the ratchet's queue of skipped generations grow with
// every later message (review finding Low 5).
func TestSkippedQueueStaysBounded(t *testing.T) {
	recv := newTree(t, 2)
	const leaf = 1
	// Generation 0 is skipped (kept for a late message) and never used;
	// 1..n arrive in order, each peeked then consumed as Process does.
	const n = 5 * MaxSkippedKeys
	for g := uint32(1); g <= n; g++ {
		if _, err := recv.Peek(leaf, Application, g); err != nil {
			t.Fatalf("Peek(%d): %v", g, err)
		}
		recv.Consume(leaf, Application, g)
		if q := len(recv.leaves[leaf].application.order); q > maxOrder {
			t.Fatalf("after generation %d the queue holds %d entries, more than %d", g, q, maxOrder)
		}
	}
	// The late generation 0 is still readable, the consumed ones are not.
	if _, err := recv.Get(leaf, Application, 0); err != nil {
		t.Fatalf("late generation 0: %v", err)
	}
	if _, err := recv.Get(leaf, Application, n); !errors.Is(err, ErrGenerationReused) {
		t.Fatalf("consumed generation %d: %v, want ErrGenerationReused", n, err)
	}
}
