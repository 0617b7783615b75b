package delivery

import (
	"context"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// ackQueueDepth bounds acks waiting for the batcher; beyond it, the
// acking connections wait (and stop reading).
const ackQueueDepth = 4096

// ackReq is one Ack waiting for the batcher.
type ackReq struct {
	ack  store.AckUpTo
	done chan error // buffered: the writer never waits for the caller
}

// Ack deletes the caller's mail up to a sequence number. It is answered
// only once the deletion is committed, but acks share the batcher's
// transactions with Sends (group commit), so a batch of Sends and acks
// costs one disk sync.
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
		// The batcher still applies the ack; the device, not told so,
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
