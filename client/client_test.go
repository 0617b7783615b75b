package client

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

func newOffline(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(context.Background(), Options{Profile: filepath.Join(t.TempDir(), "p"), Server: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestNoEngineRefuses: without MLS the client refuses to send anything
// rather than fall back to plaintext.
func TestNoEngineRefuses(t *testing.T) {
	c := newOffline(t)
	c.engine = noEngine{}
	ctx := context.Background()
	if _, err := c.Send(ctx, "@bob", "hello"); !errors.Is(err, ErrNoEncryption) {
		t.Fatalf("Send without MLS: %v, want ErrNoEncryption", err)
	}
	if err := c.replenishKeyPackages(); !errors.Is(err, ErrNoEncryption) {
		t.Fatalf("key packages without MLS: %v", err)
	}
	if !EncryptionAvailable() {
		t.Fatal("this build has no MLS engine")
	}
}

func TestOfflineProfile(t *testing.T) {
	c := newOffline(t)
	ctx := context.Background()
	if c.Registered() {
		t.Fatal("a new profile counts as registered")
	}
	if err := c.WaitConnected(ctx); !errors.Is(err, profile.ErrNotRegistered) {
		t.Fatalf("WaitConnected on a new profile: %v", err)
	}
	if _, err := c.Send(ctx, "@bob", ""); codeOf(err) != proto.Code_BAD_REQUEST {
		t.Fatalf("empty message: %v", err)
	}
	if _, err := c.Send(ctx, "@bob", string(make([]byte, MaxTextBytes+1))); codeOf(err) != proto.Code_TOO_LARGE {
		t.Fatalf("oversized message: %v", err)
	}
	if _, err := c.Send(ctx, "@bob", "hi"); !errors.Is(err, profile.ErrNotRegistered) {
		t.Fatalf("send from an unregistered profile: %v", err)
	}
	if err := c.Register(ctx, "nohandle"); codeOf(err) != proto.Code_INVALID_HANDLE {
		t.Fatalf("invalid handle: %v", err)
	}
	// The server is unreachable: registration fails with the cause.
	if err := c.Register(ctx, "@alice"); err == nil || c.Registered() {
		t.Fatalf("register against no server: %v", err)
	}
	if _, err := Dial(ctx, Options{Profile: c.prof.Dir()}); !errors.Is(err, profile.ErrInUse) {
		t.Fatalf("second client on one profile: %v", err)
	}
	if _, err := Dial(ctx, Options{Profile: filepath.Join(t.TempDir(), "q"), Server: "ftp://x"}); err == nil {
		t.Fatal("a bad server URL was accepted")
	}
}

func codeOf(err error) proto.Code {
	var pe *proto.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return -1
}
