package delivery

import (
	"context"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// ackQueueDepth bounds acks waiting for the ack writer; beyond it, the
// acking connections wait (and stop reading).
const ackQueueDepth = 4096

// ackReq is one Ack waiting for the ack writer.
type ackReq struct {
	ack  store.AckUpTo
	done chan error // buffered: the writer never waits for the caller
}

// Ack deletes the caller's mail up to a sequence number. It is answered
// only once the deletion is committed, as before, but acks arriving
// together share one transaction (group commit, like Sends), so N acks
// cost one disk sync instead of N.
func (s *Service) Ack(ctx context.Context, who gateway.Identity, a *proto.Ack) error {
	r := &ackReq{ack: store.AckUpTo{DeviceID: who.DeviceID, UpTo: a.UpToSeq}, done: make(chan error, 1)}
	if err := s.queueAck(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		if err != nil {
			return storeErr("ack", err)
		}
		return nil
	case <-ctx.Done():
		// The writer still applies the ack; the device, not told so,
		// acks again, which is harmless.
		return storeErr("ack", ctx.Err())
	}
}

func (s *Service) queueAck(ctx context.Context, r *ackReq) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return proto.Errorf(proto.Code_UNAVAILABLE, "the server is shutting down; ack again after reconnecting")
	}
	select {
	case s.acks <- r:
		return nil
	case <-ctx.Done():
		return storeErr("ack", ctx.Err())
	}
}

// acker writes queued acks: whatever is waiting (at least one, at most
// maxBatch) in one store call, so batches grow with load and a lone ack
// waits for no timer.
func (s *Service) acker() {
	batch := make([]*ackReq, 0, s.maxBatch)
	acks := make([]store.AckUpTo, 0, s.maxBatch)
	for first := range s.acks {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case next, ok := <-s.acks:
				if !ok {
					break fill
				}
				batch = append(batch, next)
			default:
				break fill
			}
		}
		acks = acks[:0]
		for _, r := range batch {
			acks = append(acks, r.ack)
		}
		ctx, cancel := context.WithTimeout(s.writes, writeTimeout)
		err := s.st.AckAll(ctx, acks)
		cancel()
		if err != nil {
			s.log.Warn("ack batch failed; the devices will ack again", "acks", len(batch), "err", err)
		}
		for _, r := range batch {
			r.done <- err
		}
		clear(batch)
	}
}
