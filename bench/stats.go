package bench

import (
	"context"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/proto"
)

// Error keys of failures that carry no proto.Code.
const (
	errTimeout   = "TIMEOUT"    // no answer within callTimeout
	errClosed    = "CLOSED"     // the connection ended without a code
	errTransport = "TRANSPORT"  // dial or socket failure
	errNoWelcome = "NO_WELCOME" // ring: a device never got its conversation
	errLost      = "LOST"       // ring: acknowledged but not delivered in time
)

// stats are one worker's measurements, updated by many goroutines.
type stats struct {
	registered, connected, created atomic.Int64
	attempted, sent, delivered     atomic.Int64
	failed                         atomic.Int64
	firstSend, lastDelivery        atomic.Int64 // Unix ns
	stalledSent, stalledDelivered  atomic.Int64

	mu     sync.Mutex
	errors map[string]int64
	ends   map[string]int64 // how stalled devices' connections ended
	hist   Histogram
	// late is the ring's latency of messages stamped from lateFrom (Unix
	// ns; 0: none) on: the last part of the send phase, after the stalled
	// devices' mail was sent.
	late     Histogram
	lateFrom atomic.Int64
}

func newStats() *stats { return &stats{errors: map[string]int64{}} }

// stalledEnd counts how a stalled device's connection ended.
func (s *stats) stalledEnd(how string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ends == nil {
		s.ends = map[string]int64{}
	}
	s.ends[how]++
}

// fail counts an error under its code.
func (s *stats) fail(err error) { s.failCode(errorCode(err)) }

func (s *stats) failCode(code string) {
	s.failed.Add(1)
	s.mu.Lock()
	s.errors[code]++
	s.mu.Unlock()
}

// sending records the time of a send.
func (s *stats) sending(at time.Time) {
	s.attempted.Add(1)
	ns := at.UnixNano()
	for {
		old := s.firstSend.Load()
		if old != 0 && old <= ns || s.firstSend.CompareAndSwap(old, ns) {
			return
		}
	}
}

// receive records a delivered message sent at sent.
func (s *stats) receive(sent time.Time) {
	now := time.Now()
	s.delivered.Add(1)
	from := s.lateFrom.Load()
	s.mu.Lock()
	s.hist.Record(now.Sub(sent))
	if from != 0 && sent.UnixNano() >= from {
		s.late.Record(now.Sub(sent))
	}
	s.mu.Unlock()
	ns := now.UnixNano()
	for {
		old := s.lastDelivery.Load()
		if old >= ns || s.lastDelivery.CompareAndSwap(old, ns) {
			return
		}
	}
}

func (s *stats) counters() Counters {
	c := Counters{
		Registered: s.registered.Load(), Connected: s.connected.Load(), Created: s.created.Load(),
		Attempted: s.attempted.Load(), Sent: s.sent.Load(), Delivered: s.delivered.Load(),
		Failed: s.failed.Load(), StalledSent: s.stalledSent.Load(), StalledDelivered: s.stalledDelivered.Load(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errors) > 0 {
		c.Errors = maps.Clone(s.errors)
	}
	if len(s.ends) > 0 {
		c.StalledEnds = maps.Clone(s.ends)
	}
	return c
}

func (s *stats) result() *WorkerStats {
	r := &WorkerStats{Counters: s.counters(), FirstSend: s.firstSend.Load(), LastDelivery: s.lastDelivery.Load()}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.Latency.Merge(&s.hist)
	r.LateLatency.Merge(&s.late)
	return r
}

// errorCode names an error by its proto.Code, or by a bench key when it
// has none.
func errorCode(err error) string {
	var pe *proto.Error
	var ce *rpc.CloseError
	switch {
	case errors.As(err, &pe):
		return pe.Code.String()
	case errors.As(err, &ce):
		return ce.Code.String()
	case errors.Is(err, context.DeadlineExceeded):
		return errTimeout
	case errors.Is(err, rpc.ErrClosed):
		return errClosed
	default:
		return errTransport
	}
}
