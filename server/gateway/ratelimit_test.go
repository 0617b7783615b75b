package gateway

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := newBucket(3, start)
	for i := range 3 {
		if !b.take(start, 10, 3) {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if b.take(start, 10, 3) {
		t.Fatal("fourth request at once allowed with burst 3")
	}
	// 10/s: one token back after 100ms, not before.
	if b.take(start.Add(99*time.Millisecond), 10, 3) {
		t.Fatal("token back before 100ms at 10/s")
	}
	if !b.take(start.Add(100*time.Millisecond), 10, 3) {
		t.Fatal("no token after 100ms at 10/s")
	}
	// A long pause refills only up to the burst.
	later := start.Add(time.Hour)
	for i := range 3 {
		if !b.take(later, 10, 3) {
			t.Fatalf("request %d after a pause refused", i)
		}
	}
	if b.take(later, 10, 3) {
		t.Fatal("bucket refilled beyond its burst")
	}
	// A clock going backwards does not mint tokens.
	if b.take(start, 10, 3) {
		t.Fatal("clock moving backwards gave a token")
	}
}
