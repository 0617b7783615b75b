package nats_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/parleyhq/parley/bus"
)

// maxBytesPerDevice bounds what one subscribed device costs a node's
// bus (the NATS subscription record, the routing map entry and the
// subject). The gateway's whole budget is 2 KB per idle connection.
const maxBytesPerDevice = 1024

// TestMemoryPerDevice measures the heap a node's bus keeps per subscribed
// device, and that no goroutine is started per subscription.
func TestMemoryPerDevice(t *testing.T) {
	const n = 5000
	b := newBus(t, machineURL(t), prefix())
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	fn := func(bus.Message) {}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%015d", i) // as long as a real device id
	}
	g0, h0 := runtime.NumGoroutine(), heap()
	unsubs := make([]func(), n)
	for i, id := range ids {
		u, err := b.Subscribe(id, fn)
		if err != nil {
			t.Fatal(err)
		}
		unsubs[i] = u
	}
	h1, g1 := heap(), runtime.NumGoroutine()
	per := float64(h1-h0) / n
	t.Logf("%d devices: %.0f bytes of heap and %d goroutines per device", n, per, (g1-g0)/n)
	if per > maxBytesPerDevice {
		t.Errorf("%.0f bytes per subscribed device, want at most %d", per, maxBytesPerDevice)
	}
	if g1-g0 > 10 {
		t.Errorf("%d goroutines more after %d subscriptions, want none per subscription", g1-g0, n)
	}
	for _, u := range unsubs {
		u()
	}
	runtime.KeepAlive(ids)
}
