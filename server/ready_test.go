package server

import (
	"context"
	"testing"
)

func TestReadinessFollowsDrainAndStore(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir(), AdminAddr: AdminOff})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.readyCheck(ctx); err != nil {
		t.Fatalf("fresh server not ready: %v", err)
	}
	if err := s.gw.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.readyCheck(ctx); err == nil {
		t.Fatal("draining server reports ready")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestStoreErrorsMakeTheServerUnready(t *testing.T) {
	s, err := New(Config{DataDir: t.TempDir(), AdminAddr: AdminOff})
	if err != nil {
		t.Fatal(err)
	}
	s.st.Close() // the store goes away under the server
	if err := s.readyCheck(context.Background()); err == nil {
		t.Fatal("server with a closed store reports ready")
	}
	s.ownsStore = false
	s.Shutdown(context.Background())
}
