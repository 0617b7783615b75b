package sqlite

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// BenchmarkDeliverRing writes batches shaped like `parley bench ring` at
// 1,000 devices: per transaction, batch Sends, each from a device to the
// next one with a random message id and a 450-byte envelope, and an ack
// from each recipient of the previous batch. batch=256 is the shape at
// --max, batch=2 the one at about 1,000 msgs/s. It reports the store's
// cost per message.
func BenchmarkDeliverRing(b *testing.B) {
	for _, batch := range []int{2, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchDeliverRing(b, batch) })
	}
}

func benchDeliverRing(b *testing.B, batch int) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "ring.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const devices = 1000
	envelope := make([]byte, 450)
	dev := func(i int) string { return fmt.Sprintf("dev-%04d", i%devices) }
	var acks []store.AckUpTo
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		subs := make([]store.Submission, batch)
		for i := range subs {
			id := make([]byte, 16)
			rand.Read(id)
			subs[i] = store.Submission{SenderDevice: dev(n), MessageID: id, At: storetest.T0,
				Mail: []store.Mail{{DeviceID: dev(n + 1), Envelope: envelope, Expires: storetest.T0.Add(1e12)}}}
			n++
		}
		if _, err := s.DeliverAndAck(b.Context(), subs, acks); err != nil {
			b.Fatal(err)
		}
		acks = acks[:0]
		for _, sub := range subs {
			acks = append(acks, store.AckUpTo{DeviceID: sub.Mail[0].DeviceID, UpTo: sub.Mail[0].Seq})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
}
