package storetest

import (
	"fmt"
	"testing"

	"github.com/parleyhq/parley/store"
)

// BenchDeliverBatch and BenchDeliverRecipients shape BenchDeliver's batches:
// a gateway's group commit of 64 sends into 1:1 chats whose peer has two
// devices.
const (
	BenchDeliverBatch      = 64
	BenchDeliverRecipients = 2
)

// BenchDeliver measures Deliver with batches of BenchDeliverBatch
// submissions to BenchDeliverRecipients devices each, 1 KiB envelopes, from
// 16 senders to 32 devices. It reports messages (submissions) per second.
func BenchDeliver(b *testing.B, s store.Store) {
	envelope := make([]byte, 1024)
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		subs := make([]store.Submission, BenchDeliverBatch)
		for i := range subs {
			n++
			mails := make([]store.Mail, BenchDeliverRecipients)
			for j := range mails {
				mails[j] = store.Mail{DeviceID: fmt.Sprintf("dev-%d", (n+j)%32), Envelope: envelope, Expires: T0.Add(24 * 3600e9)}
			}
			subs[i] = store.Submission{SenderDevice: fmt.Sprintf("sender-%d", n%16), MessageID: msgID(n), Mail: mails, At: T0}
		}
		if _, err := s.Deliver(b.Context(), subs); err != nil {
			b.Fatalf("Deliver: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*BenchDeliverBatch)/b.Elapsed().Seconds(), "msgs/s")
}
