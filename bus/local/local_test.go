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

// MailSignals counts mail signals, delivered or not, and nothing else.
func TestMailSignals(t *testing.T) {
	b := local.New()
	defer b.Close()
	ctx := t.Context()
	n0, ok := b.MailSignals()
	if !ok {
		t.Fatal("bus/local does not count")
	}
	b.Publish(ctx, "dev-a", bus.Message{Kind: bus.KindMail, Seq: 1})
	if n, _ := b.MailSignals(); n != n0+1 {
		t.Fatalf("MailSignals after a signal to nobody = %d, want %d", n, n0+1)
	}
	unsub, err := b.Subscribe("dev-a", func(bus.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	b.Publish(ctx, "dev-a", bus.Message{Kind: bus.KindMail, Seq: 2})
	if n, _ := b.MailSignals(); n != n0+2 {
		t.Fatalf("MailSignals after a delivered signal = %d, want %d", n, n0+2)
	}
	b.Publish(ctx, "dev-a", bus.Message{Kind: bus.KindFrame, Frame: []byte("x")})
	if n, _ := b.MailSignals(); n != n0+2 {
		t.Fatalf("MailSignals after a frame = %d, want %d", n, n0+2)
	}
	unsub()
}
