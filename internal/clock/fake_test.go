package clock

import (
	"testing"
	"time"
)

func TestFakeTimersFireInOrderOnAdvance(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	t1 := f.NewTimer(2 * time.Second)
	t2 := f.NewTimer(time.Second)
	done := make(chan struct{})
	f.AfterFunc(3*time.Second, func() { close(done) })

	f.Advance(500 * time.Millisecond)
	select {
	case <-t2.C():
		t.Fatal("timer fired early")
	default:
	}
	f.Advance(time.Second)
	if got := <-t2.C(); !got.Equal(start.Add(time.Second)) {
		t.Fatalf("t2 fired at %v", got)
	}
	if t1.Stop() != true {
		t.Fatal("t1 should still be pending")
	}
	f.Advance(2 * time.Second)
	<-done
	if got := f.Now(); !got.Equal(start.Add(3500 * time.Millisecond)) {
		t.Fatalf("now = %v", got)
	}
}

func TestFakeTickerRepeatsAndReset(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	tk := f.NewTicker(time.Second)
	for i := 1; i <= 3; i++ {
		f.Advance(time.Second)
		if got := <-tk.C(); got.Unix() != int64(i) {
			t.Fatalf("tick %d at %v", i, got.Unix())
		}
	}
	tk.Stop()
	if f.Waiters() != 0 {
		t.Fatalf("stopped ticker still pending")
	}
	tm := f.NewTimer(time.Second)
	tm.Reset(5 * time.Second)
	f.Advance(4 * time.Second)
	select {
	case <-tm.C():
		t.Fatal("reset timer fired at its old deadline")
	default:
	}
	f.Advance(time.Second)
	<-tm.C()
}
