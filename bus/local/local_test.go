package local_test

import (
	"testing"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/bustest"
	"github.com/parleyhq/parley/bus/local"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(*testing.T) bus.Bus { return local.New() })
}

// Missed counts publications that found no subscriber, and only those.
func TestMissed(t *testing.T) {
	b := local.New()
	defer b.Close()
	ctx := t.Context()
	n0, ok := b.Missed()
	if !ok {
		t.Fatal("bus/local does not count")
	}
	b.Publish(ctx, "dev-a", bus.Message{Kind: bus.KindMail, Seq: 1})
	if n, _ := b.Missed(); n != n0+1 {
		t.Fatalf("Missed after a publication to nobody = %d, want %d", n, n0+1)
	}
	unsub, err := b.Subscribe("dev-a", func(bus.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(ctx, "dev-a", bus.Message{Kind: bus.KindMail, Seq: 2})
	if n, _ := b.Missed(); n != n0+1 {
		t.Fatalf("Missed after a delivered publication = %d, want %d", n, n0+1)
	}
	unsub()
	b.Publish(ctx, "dev-a", bus.Message{Kind: bus.KindMail, Seq: 3})
	if n, _ := b.Missed(); n != n0+2 {
		t.Fatalf("Missed after unsubscribing = %d, want %d", n, n0+2)
	}
}
