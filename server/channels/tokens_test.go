package channels

import (
	"strings"
	"testing"
	"time"
)

func testTokens() *Tokens { return &Tokens{secret: []byte("0123456789abcdef0123456789abcdef")} }

func TestTokens(t *testing.T) {
	tk := testTokens()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	up := tk.Make("cabcdefghijklmnop", now.Add(time.Minute))
	if ch, err := tk.Check(up, now); err != nil || ch != "cabcdefghijklmnop" {
		t.Fatalf("upload token: %q %v", ch, err)
	}
	down := tk.Make("", now.Add(time.Minute))
	if ch, err := tk.Check(down, now); err != nil || ch != "" {
		t.Fatalf("download token: %q %v", ch, err)
	}
	if _, err := tk.Check(up, now.Add(time.Minute)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	other := &Tokens{secret: []byte("another secret, another server!!")}
	if _, err := other.Check(up, now); err == nil {
		t.Fatal("another server's token accepted")
	}
	// Turning a download token into an upload token breaks the MAC.
	forged := tk.Make("", now.Add(time.Minute))
	if _, err := tk.Check(forged[:len(forged)-2]+"AA", now); err == nil {
		t.Fatal("tampered token accepted")
	}
	for _, bad := range []string{"", "!!!", "AAAA", up + "A"} {
		if _, err := tk.Check(bad, now); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

// FuzzTokenCheck: Check decodes bytes from any HTTP client; it must not
// panic, and nothing but a token it made may pass.
func FuzzTokenCheck(f *testing.F) {
	tk := testTokens()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Add(tk.Make("cabcdefghijklmnop", now.Add(time.Hour)))
	f.Add(tk.Make("", now.Add(time.Hour)))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ch, err := tk.Check(s, now)
		if err == nil && tk.Make(ch, time.Time{}) == "" {
			t.Fatal("unreachable")
		}
	})
}
