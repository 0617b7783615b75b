package server_test

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

func quiet(c *server.Config) {
	c.Logger = slog.New(slog.DiscardHandler)
	c.RatePerSecond, c.RateBurst = 1e9, 1<<30
}

// BenchmarkSend measures the full server path for 1:1 messages: a
// device's Send, authentication already done, the batched mailbox write,
// the push to the recipient's connection and its ack, with 16 pairs of
// devices on loopback. MLS is not involved (the server never sees it):
// payloads are opaque 200-byte ciphertexts carrying a send timestamp for
// the latency figures.
//
// "window" is how many Sends each sender keeps unanswered: 1 shows the
// latency of an unloaded path, 32 the throughput of a loaded one.
//
//	go test ./server -run '^$' -bench Send -benchtime 20000x
func BenchmarkSend(b *testing.B) {
	for _, window := range []int{1, 32} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) { benchSend(b, window) })
	}
}

func benchSend(b *testing.B, window int) {
	const pairs, ackEvery = 16, 64
	ts := startServer(b, quiet)
	type pair struct {
		alice, bob *client
		gid        []byte
	}
	ps := make([]pair, pairs)
	for i := range ps {
		a := register(b, ts, fmt.Sprintf("@alice%d", i))
		o := register(b, ts, fmt.Sprintf("@bob%d", i))
		gid := directGroup(b, a, o, o)
		seq, _ := o.envelope()
		ack(o, seq)
		ps[i] = pair{a, o, gid}
	}
	per := max(b.N/pairs, 1)
	var mu sync.Mutex
	var lat []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { // sender: keep up to window Sends in flight
			payload := make([]byte, 200)
			first := p.alice.nextID + 1
			for i := range per {
				if i >= window {
					if r := p.alice.response(first + uint64(i-window)); r.Code != proto.Code_OK {
						b.Errorf("send: %v", r.Code)
						return
					}
				}
				binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
				p.alice.send(sendReq(p.gid, randomID(b), string(payload)))
			}
			for i := max(per-window, 0); i < per; i++ {
				p.alice.response(first + uint64(i))
			}
		})
		wg.Go(func() { // receiver: read, ack every ackEvery
			local := make([]time.Duration, 0, per)
			for i := 0; i < per; {
				f := p.bob.next()
				if r := f.GetResponse(); r != nil {
					if r.Code != proto.Code_OK {
						b.Errorf("ack: %v", r.Code)
						return
					}
					continue
				}
				seq, env := f.GetEvent().Seq, f.GetEvent().GetEnvelope()
				i++
				local = append(local, time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(env.Payload)))))
				if i%ackEvery == 0 || i == per {
					p.bob.send(&proto.Request{Body: &proto.Request_Ack{Ack: &proto.Ack{UpToSeq: seq}}})
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "msgs/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
