package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// submission is one Send waiting for the batcher.
type submission struct {
	sub  store.Submission
	done func(*proto.Response)
}

// Send validates an application message and fans it out to every other
// member device: durably through the batcher, or, when ephemeral, only to
// connected devices. done is called exactly once.
func (s *Service) Send(ctx context.Context, who gateway.Identity, m *proto.Send, done func(*proto.Response)) {
	sub, err := s.prepare(ctx, who, m)
	if err != nil {
		done(s.errorResponse(err))
		return
	}
	if sub == nil { // ephemeral, already pushed
		s.m.MessagesIn.WithLabelValues("ephemeral").Inc()
		done(okSend(s.clock.Now()))
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		done(s.errorResponse(proto.Errorf(proto.Code_UNAVAILABLE, "the server is shutting down; send again after reconnecting")))
		return
	}
	select {
	case s.in <- &submission{sub: *sub, done: done}:
	case <-ctx.Done():
		done(s.errorResponse(proto.Errorf(proto.Code_UNAVAILABLE, "the connection closed before the message was queued; send it again")))
	}
}

// prepare checks a Send and builds its submission; for an ephemeral Send
// it pushes the envelope and returns nil.
func (s *Service) prepare(ctx context.Context, who gateway.Identity, m *proto.Send) (*store.Submission, error) {
	if err := checkMessageID(m.MessageId); err != nil {
		return nil, err
	}
	if len(m.Ciphertext) == 0 {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "ciphertext is empty")
	}
	if len(m.Ciphertext) > proto.MaxCiphertextBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "ciphertext is %d bytes; the limit is %d (send large content as an attachment)", len(m.Ciphertext), proto.MaxCiphertextBytes)
	}
	g, err := s.memberGroup(ctx, who, m.GroupId)
	if err != nil {
		return nil, err
	}
	if err := s.blockedBy(ctx, who, g.Kind, g.Accounts); err != nil {
		return nil, err
	}
	if m.Epoch != g.Epoch {
		// The cached state may predate a commit applied on another node.
		if g, err = s.freshGroup(ctx, m.GroupId); err != nil {
			return nil, storeErr("group", err)
		}
		if !slices.Contains(g.Devices, who.DeviceID) {
			return nil, proto.Errorf(proto.Code_FORBIDDEN, "this device is not a member of the conversation")
		}
	}
	if m.Epoch != g.Epoch {
		// Members that moved on could not open a message of an older
		// epoch (and a newer one does not exist): the sender must first
		// process the commits waiting in its mailbox, then encrypt again.
		return nil, &staleEpoch{current: g.Epoch}
	}
	now := s.clock.Now()
	env, err := s.envelope(who, &proto.Envelope{
		MessageId: m.MessageId, GroupId: g.ID, Kind: proto.EnvelopeKind_APPLICATION, Payload: m.Ciphertext,
		ServerTimeMs: now.UnixMilli(), Epoch: m.Epoch,
		ConversationKind: proto.ConversationKind(g.Kind), Accounts: g.Accounts,
	})
	if err != nil {
		return nil, err
	}
	if m.Ephemeral {
		frame := gateway.EnvelopeFrame(0, env)
		for _, d := range g.Devices {
			if d == who.DeviceID {
				continue
			}
			if err := s.bus.Publish(ctx, d, bus.Message{Kind: bus.KindFrame, Frame: frame}); err != nil {
				s.log.Debug("ephemeral message not routed", "device", d, "err", err)
			}
		}
		return nil, nil
	}
	sub := &store.Submission{SenderDevice: who.DeviceID, MessageID: m.MessageId, At: now}
	expires := now.Add(proto.MailboxTTL)
	for _, d := range g.Devices {
		if d != who.DeviceID {
			sub.Mail = append(sub.Mail, store.Mail{DeviceID: d, Envelope: env, Expires: expires})
		}
	}
	return sub, nil
}

// batcher is the group commit: it takes whatever Sends are queued (at
// least one, at most maxBatch) and writes them in one store call. While a
// write runs, the next batch queues up, so batches grow with load and a
// lone Send waits for no timer.
func (s *Service) batcher() {
	batch := make([]*submission, 0, s.maxBatch)
	for first := range s.in {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case next, ok := <-s.in:
				if !ok {
					break fill
				}
				batch = append(batch, next)
			default:
				break fill
			}
		}
		s.write(batch)
		clear(batch)
	}
}

// write stores one batch and answers its senders in order.
func (s *Service) write(batch []*submission) {
	subs := make([]store.Submission, len(batch))
	for i, b := range batch {
		subs[i] = b.sub
	}
	ctx, cancel := context.WithTimeout(s.writes, writeTimeout)
	defer cancel()
	start := time.Now()
	errs, err := s.st.Deliver(ctx, subs)
	s.m.BatchSeconds.Observe(time.Since(start).Seconds())
	s.m.BatchSize.Observe(float64(len(batch)))
	if err != nil {
		s.log.Error("delivery batch failed; senders will retry", "submissions", len(batch), "err", err)
		code := proto.Code_UNAVAILABLE
		for _, b := range batch {
			b.done(s.errorResponse(&proto.Error{Code: code, Message: "the message was not stored; send it again with the same message_id"}))
		}
		return
	}
	now := s.clock.Now()
	var written []store.Mail
	for i, b := range batch {
		switch {
		case errs[i] == nil:
			written = append(written, subs[i].Mail...)
			s.m.MessagesIn.WithLabelValues("application").Inc()
			b.done(okSend(now))
		case errors.Is(errs[i], store.ErrDuplicate):
			b.done(s.errorResponse(proto.Errorf(proto.Code_DUPLICATE, "this message id was already accepted; nothing to do")))
		default:
			s.log.Error("delivery submission failed", "err", errs[i])
			b.done(s.errorResponse(proto.Errorf(proto.Code_INTERNAL, "the message was not stored; send it again with the same message_id")))
		}
	}
	s.m.MailboxWritten.Add(float64(len(written)))
	s.notify(written)
}

func okSend(now time.Time) *proto.Response {
	return &proto.Response{Body: &proto.Response_Send{Send: &proto.SendResult{ServerTimeMs: now.UnixMilli()}}}
}

// errorResponse turns an error into a Response. Only a *proto.Error's
// message reaches the device; anything else is logged here and answered
// INTERNAL.
func (s *Service) errorResponse(err error) *proto.Response {
	var stale *staleEpoch
	if errors.As(err, &stale) {
		return conflictResponse(stale.current, nil,
			"the conversation moved to a newer epoch; process the commits in your mailbox and encrypt the message again")
	}
	var pe *proto.Error
	if errors.As(err, &pe) {
		return &proto.Response{Code: pe.Code, Message: pe.Message}
	}
	s.log.Error("delivery request failed", "err", err)
	return &proto.Response{Code: proto.Code_INTERNAL, Message: "internal server error; it has been logged"}
}

// staleEpoch rejects a Send encrypted in an epoch other than the group's.
type staleEpoch struct{ current uint64 }

func (e *staleEpoch) Error() string { return fmt.Sprintf("stale epoch; the group is at %d", e.current) }

// conflictResponse answers CONFLICT with the group's current epoch and,
// for a commit, the commit that won the requested epoch.
func conflictResponse(current uint64, winning []byte, msg string) *proto.Response {
	return &proto.Response{
		Code:    proto.Code_CONFLICT,
		Message: msg,
		Body:    &proto.Response_Conflict{Conflict: &proto.Conflict{Epoch: current, WinningCommit: winning}},
	}
}
