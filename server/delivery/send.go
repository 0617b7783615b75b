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

// batcher is the group commit: it takes whatever Sends and acks are
// queued (at least one of either, at most maxBatch of each) and writes
// them in one store call, one transaction. While a write runs, the next
// batch queues up, so batches grow with load; a batch found small right
// after a write lingers up to lingerMax for more (see lingerFor), and a
// lone Send after an idle spell waits for no timer.
//
// Answering a written batch's senders and waking its recipients (socket
// writes, bus publishes) is left to the answerer goroutine, so the next
// transaction starts at once; batches are answered in the order they
// were written. At most answerQueue written batches wait for it.
func (s *Service) batcher(answers chan<- *written) {
	defer close(answers)
	in, ackIn := s.in, s.acks
	idle := time.Now() // when the batcher last started waiting
	var linger *time.Timer
	for in != nil || ackIn != nil {
		var batch []*submission
		var acks []*ackReq
		// Wait for the first item; a closed channel is done with.
		select {
		case sub, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			batch = append(make([]*submission, 0, min(len(in)+1, s.maxBatch)), sub)
		case a, ok := <-ackIn:
			if !ok {
				ackIn = nil
				continue
			}
			acks = append(make([]*ackReq, 0, min(len(ackIn)+1, s.maxBatch)), a)
		}
		batch = fill(batch, in, s.maxBatch)
		acks = fill(acks, ackIn, s.maxBatch)
		if d := lingerFor(time.Since(idle), len(batch)+len(acks)); d > 0 {
			// Real time, not s.clock: the linger only shapes batches.
			if linger == nil {
				linger = time.NewTimer(d)
			} else {
				linger.Reset(d)
			}
			batch, acks = s.linger(batch, acks, &in, &ackIn, linger.C)
			linger.Stop()
		}
		if w := s.write(batch, acks); w != nil {
			answers <- w
		}
		idle = time.Now()
	}
}

// Batch linger: a batch found small right after a write waits a moment
// for more Sends and acks, so at rates where the writer is idle between
// them a transaction (and its fsync) still carries several; when they
// come further apart than lingerBusy, nothing waits.
const (
	// lingerMax is the longest a batch waits: it adds at most this to a
	// message's latency.
	lingerMax = time.Millisecond
	// lingerBusy: a first item that came sooner than this after the
	// previous write means items are arriving faster than writes.
	lingerBusy = 2 * time.Millisecond
	// lingerFill is the batch size past which the batcher writes at once.
	lingerFill = 32
)

// lingerFor is how long a batch of n items, whose first item came waited
// after the previous write, waits for more: lingerMax if items arrive
// fast and the batch is still small, else nothing.
func lingerFor(waited time.Duration, n int) time.Duration {
	if waited >= lingerBusy || n >= lingerFill {
		return 0
	}
	return lingerMax
}

// linger adds Sends and acks to the batch until it holds lingerFill items
// or timeout fires.
func (s *Service) linger(batch []*submission, acks []*ackReq, in *chan *submission, ackIn *chan *ackReq, timeout <-chan time.Time) ([]*submission, []*ackReq) {
	for len(batch)+len(acks) < lingerFill && len(batch) < s.maxBatch && len(acks) < s.maxBatch {
		select {
		case sub, ok := <-*in:
			if !ok {
				*in = nil
				continue
			}
			batch = append(batch, sub)
		case a, ok := <-*ackIn:
			if !ok {
				*ackIn = nil
				continue
			}
			acks = append(acks, a)
		case <-timeout:
			return batch, acks
		}
	}
	return batch, acks
}

// answerer answers the batches the batcher wrote, in order, until the
// batcher closes answers.
func (s *Service) answerer(answers <-chan *written) {
	for w := range answers {
		s.answer(w)
	}
}

// answerQueue bounds the written batches waiting to be answered; past it
// the batcher waits before its next write.
const answerQueue = 4

// fill adds what ch holds now, up to limit items in all, without waiting.
func fill[T any](dst []T, ch chan T, limit int) []T {
	for ch != nil && len(dst) < limit {
		select {
		case v, ok := <-ch:
			if !ok {
				return dst
			}
			dst = append(dst, v)
		default:
			return dst
		}
	}
	return dst
}

// written is a stored batch (or one whose write failed: err) whose
// senders are still to be answered.
type written struct {
	batch []*submission
	subs  []store.Submission
	errs  []error
	err   error // the whole write failed
}

// write stores one batch and answers its ackers; its senders, whether the
// write succeeded or failed, are left to answer, so that they are answered
// in write order (nil: the batch held no Send).
func (s *Service) write(batch []*submission, acks []*ackReq) *written {
	subs := make([]store.Submission, len(batch))
	for i, b := range batch {
		subs[i] = b.sub
	}
	ackList := make([]store.AckUpTo, len(acks))
	for i, a := range acks {
		ackList[i] = a.ack
	}
	ctx, cancel := context.WithTimeout(s.writes, writeTimeout)
	defer cancel()
	start := time.Now()
	errs, err := s.st.DeliverAndAck(ctx, subs, ackList)
	s.m.BatchSeconds.Observe(time.Since(start).Seconds())
	if len(batch) > 0 {
		s.m.BatchSize.Observe(float64(len(batch)))
	}
	for _, a := range acks {
		a.done <- err
	}
	if err != nil {
		s.log.Error("delivery batch failed; senders will retry", "submissions", len(batch), "acks", len(acks), "err", err)
	}
	if len(batch) == 0 {
		return nil
	}
	return &written{batch: batch, subs: subs, errs: errs, err: err}
}

// answer answers a written batch's senders in order and wakes its
// recipients.
func (s *Service) answer(w *written) {
	if w.err != nil {
		for _, b := range w.batch {
			b.done(s.errorResponse(&proto.Error{Code: proto.Code_UNAVAILABLE, Message: "the message was not stored; send it again with the same message_id"}))
		}
		return
	}
	now := s.clock.Now()
	var mail []store.Mail
	accepted := 0
	for i, b := range w.batch {
		switch err := w.errs[i]; {
		case err == nil:
			mail = append(mail, w.subs[i].Mail...)
			accepted++
			b.done(okSend(now))
		case errors.Is(err, store.ErrDuplicate):
			b.done(s.errorResponse(proto.Errorf(proto.Code_DUPLICATE, "this message id was already accepted; nothing to do")))
		default:
			s.log.Error("delivery submission failed", "err", err)
			b.done(s.errorResponse(proto.Errorf(proto.Code_INTERNAL, "the message was not stored; send it again with the same message_id")))
		}
	}
	s.m.MessagesIn.WithLabelValues("application").Add(float64(accepted))
	s.m.MailboxWritten.Add(float64(len(mail)))
	s.notify(mail)
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
