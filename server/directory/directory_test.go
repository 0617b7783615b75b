package directory

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/identity"
)

func TestAccountIDIsDerivedFromTheFirstPrimaryKey(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	id, dev := identity.AccountID(pub), identity.DeviceID(pub)
	if !strings.HasPrefix(id, "a") || id[1:] != dev[1:] || len(id) != len(dev) {
		t.Fatalf("account id %q for device %q", id, dev)
	}
}

func TestCodes(t *testing.T) {
	s := &Service{rand: bytes.NewReader(append(bytes.Repeat([]byte{255, 250}, 4), []byte{0, 9, 10, 19, 249, 100, 123, 45}...))}
	// 250..255 are rejected (they would skew the digits); the rest map
	// to their value mod 10.
	code, err := s.digits(8)
	if err != nil {
		t.Fatal(err)
	}
	if code != "09099035" {
		t.Fatalf("digits %q, want 09099035", code)
	}
	if _, err := s.digits(8); err == nil {
		t.Fatal("digits from an exhausted source did not fail")
	}
	for in, want := range map[string]string{"1234-5678": "12345678", " 1234 5678 ": "12345678", "AbCd-EF": "abcdef"} {
		if got := normalizeCode(in); got != want {
			t.Errorf("normalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPolicy(t *testing.T) {
	for _, p := range []Policy{PolicyOpen, PolicyInvite, PolicyClosed} {
		if !p.Valid() {
			t.Errorf("%q invalid", p)
		}
	}
	if Policy("").Valid() || Policy("Open").Valid() {
		t.Error("unknown policy accepted")
	}
}

func TestWindowLimit(t *testing.T) {
	g := newWindow(maxFailedLookups, lookupWindow)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range maxFailedLookups {
		if !g.allowed("a1", now) {
			t.Fatal("refused before the limit")
		}
		g.add("a1", now)
	}
	if g.allowed("a1", now.Add(time.Minute)) {
		t.Fatal("allowed beyond the limit")
	}
	if !g.allowed("a2", now) {
		t.Fatal("another key is limited too")
	}
	if !g.allowed("a1", now.Add(lookupWindow)) {
		t.Fatal("limit did not reset after the window")
	}
}

func TestWindowTableIsBounded(t *testing.T) {
	w := newWindow(1, time.Minute)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxLimitRecords {
		w.add(fmt.Sprint(i), now)
	}
	w.add("late", now.Add(time.Minute))
	if len(w.m) != 1 {
		t.Fatalf("%d records after the window passed, want the expired ones pruned", len(w.m))
	}
}
