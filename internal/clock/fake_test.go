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

// Advancing far past a ticker's period fires it at its first and last
// deadlines (the ticks between would be dropped by a reader that could
// not keep up anyway) and keeps its phase; it used to fire every period,
// 2.6 million times for a month of a 1-second ticker.
func TestFakeTickerCoalescesALongAdvance(t *testing.T) {
	start := time.Unix(0, 0)
	f := NewFake(start)
	tk := f.NewTicker(time.Second)
	fired := make(chan time.Time, 10)
	var ticks []time.Time
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tm := range fired {
			ticks = append(ticks, tm)
		}
	}()
	// Read the ticker as fast as possible while the clock jumps a month.
	stop := make(chan struct{})
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		for {
			select {
			case tm := <-tk.C():
				fired <- tm
			case <-stop:
				return
			}
		}
	}()
	month := 30 * 24 * time.Hour
	f.Advance(month + 500*time.Millisecond)
	close(stop)
	<-reading
	select { // a last tick still buffered
	case tm := <-tk.C():
		fired <- tm
	default:
	}
	close(fired)
	<-done
	if len(ticks) == 0 || len(ticks) > 2 {
		t.Fatalf("%d ticks over a month, want 1 or 2: %v", len(ticks), ticks)
	}
	if last := ticks[len(ticks)-1]; !last.Equal(start.Add(month)) && !last.Equal(start.Add(time.Second)) {
		t.Fatalf("last tick at %v", last.Sub(start))
	}
	// The phase is kept: the next tick is on the next whole second.
	f.Advance(500 * time.Millisecond)
	if got := <-tk.C(); !got.Equal(start.Add(month + time.Second)) {
		t.Fatalf("next tick at %v, want %v", got.Sub(start), month+time.Second)
	}
}
