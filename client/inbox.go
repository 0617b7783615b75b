package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/proto"
)

// inbox processes the events of one connection: each stored envelope is
// decrypted, persisted together with the group state it advanced and the
// record that it was seen, and only then acknowledged (in batches).
// Delivery receipts go out after the ack.
type inbox struct {
	c         *Client
	ctx       context.Context // ends with the connection
	conn      *rpc.Conn
	persisted uint64 // highest seq persisted
	acked     uint64
	unacked   int
	receipts  map[string][][]byte // group id -> message ids to confirm
}

func (in *inbox) handle(ev *proto.Event) error {
	c := in.c
	if h := c.opts.Hooks; h != nil && h.Event != nil {
		h.Event(ev)
	}
	switch b := ev.Body.(type) {
	case *proto.Event_Envelope:
		ctx, cancel := context.WithTimeout(in.ctx, callTimeout)
		defer cancel()
		if err := c.receive(ctx, ev.Seq, b.Envelope, in); err != nil {
			return err
		}
		if ev.Seq > 0 {
			in.persisted = max(in.persisted, ev.Seq)
			in.unacked++
		}
	case *proto.Event_Notice:
		c.log.Info("server notice", "code", b.Notice.Code, "message", b.Notice.Message)
	case *proto.Event_ChannelUpdated:
		c.channelUpdated(b.ChannelUpdated)
	case *proto.Event_ChannelInvitation:
		c.emit(ChannelInvitationEvent{Invitation: invitationOf(b.ChannelInvitation)})
	default:
		// LinkApproved only matters while linking; Presence is reserved.
	}
	return nil
}

// flush acks what was persisted and sends the delivery receipts.
func (in *inbox) flush() {
	c := in.c
	if in.persisted > in.acked {
		if h := c.opts.Hooks; h != nil && h.BeforeAck != nil && !h.BeforeAck(in.persisted) {
			in.conn.Close()
			return
		}
		ctx, cancel := context.WithTimeout(in.ctx, callTimeout)
		_, err := in.conn.Call(ctx, &proto.Request{Body: &proto.Request_Ack{Ack: &proto.Ack{UpToSeq: in.persisted}}})
		cancel()
		if err != nil {
			c.log.Debug("ack failed; the mail will be redelivered and skipped", "err", err)
			return
		}
		in.acked, in.unacked = in.persisted, 0
		if err := c.prof.SetAckedSeq(in.ctx, in.acked); err != nil {
			c.log.Warn("recording acked sequence", "err", err)
		}
	}
	for g, ids := range in.receipts {
		ctx, cancel := context.WithTimeout(in.ctx, callTimeout)
		if err := c.sendReceipt(ctx, []byte(g), proto.Receipt_DELIVERED, ids); err != nil {
			c.log.Debug("delivery receipt not sent", "err", err)
		}
		cancel()
	}
	in.receipts = nil
}

// seenKey identifies an envelope for de-duplication: message ids are
// unique per sending device.
func seenKey(env *proto.Envelope) []byte {
	return append(append([]byte(env.SenderDevice), 0), env.MessageId...)
}

// receive processes one envelope. It returns an error only for local
// failures (the profile could not be written); a message that cannot be
// processed is logged, recorded as seen and acknowledged, so one bad
// message never blocks the mailbox.
func (c *Client) receive(ctx context.Context, seq uint64, env *proto.Envelope, in *inbox) error {
	if h := c.opts.Hooks; h != nil && h.Envelope != nil {
		h.Envelope(env)
	}
	stored := seq > 0
	if stored {
		var seen bool
		if err := c.prof.Update(ctx, func(tx *profile.Tx) (err error) {
			seen, err = tx.Seen(seenKey(env))
			return err
		}); err != nil {
			return err
		}
		if seen {
			return nil // redelivered after a lost ack
		}
	}
	var events []Event
	if err := c.lockGroups(ctx); err != nil {
		return err // the connection ended: the mail comes again
	}
	var err error
	switch env.Kind {
	case proto.EnvelopeKind_WELCOME:
		events, err = c.receiveWelcome(ctx, env)
	case proto.EnvelopeKind_COMMIT:
		events, err = c.receiveCommit(ctx, env)
	case proto.EnvelopeKind_APPLICATION:
		events, err = c.receiveApplication(ctx, env, stored, in)
	default:
		err = c.skip(ctx, env, stored, fmt.Errorf("unknown envelope kind %v", env.Kind))
	}
	c.groupMu.Unlock()
	if err != nil {
		return err
	}
	for _, ev := range events {
		c.emit(ev)
	}
	return nil
}

// skip records an envelope that cannot be processed as seen.
func (c *Client) skip(ctx context.Context, env *proto.Envelope, stored bool, why error) error {
	c.log.Warn("dropping incoming message", "kind", env.Kind, "from", env.SenderHandle, "device", env.SenderDevice, "err", why)
	if !stored {
		return nil
	}
	return c.prof.Update(ctx, func(tx *profile.Tx) error { return tx.MarkSeen(seenKey(env), c.clk.Now()) })
}

// keepJoined stores a conversation joined from a Welcome, uses up the key
// package that opened it and marks the envelope seen, in one transaction.
// A Welcome for a group this device already holds is dropped rather than
// replacing it. joined is false when the Welcome was dropped or failed;
// err is then what the caller returns.
func (c *Client) keepJoined(ctx context.Context, env *proto.Envelope, conv profile.Conversation, g mlsGroup, used profile.KeyPackage, what string) (joined bool, err error) {
	state, err := g.Export()
	if err != nil {
		return false, c.skip(ctx, env, true, fmt.Errorf("export joined state: %w", err))
	}
	conv.State, conv.Epoch = state, g.Epoch()
	err = c.prof.Update(ctx, func(tx *profile.Tx) error {
		if err := tx.AddConversation(conv); err != nil {
			return err
		}
		if !used.LastResort {
			if err := tx.DeleteKeyPackage(used.Ref); err != nil {
				return err
			}
		}
		return tx.MarkSeen(seenKey(env), c.clk.Now())
	})
	if errors.Is(err, profile.ErrExists) {
		return false, c.skip(ctx, env, true, fmt.Errorf("welcome for %s this device already has; keeping the one it has", what))
	}
	if err != nil {
		return false, err
	}
	if !used.LastResort {
		c.mu.Lock()
		if c.kpLeft > 0 {
			c.kpLeft--
		}
		c.mu.Unlock()
		c.kickKeyPackages()
	}
	c.groupAdvanced()
	return true, nil
}

// receiveWelcome joins a DIRECT conversation. The Welcome is taken only
// when every member of the group is a verified device of its two accounts
// and at least one is a device of the peer, and never over a conversation
// this device already has: otherwise whoever can deliver a Welcome (the
// server included) could plant a conversation or overwrite one.
func (c *Client) receiveWelcome(ctx context.Context, env *proto.Envelope) ([]Event, error) {
	if env.ConversationKind == proto.ConversationKind_CHANNEL_ADMINS {
		return c.receiveTeamWelcome(ctx, env)
	}
	self := c.Self()
	i := slices.IndexFunc(env.Accounts, func(a string) bool { return a != self.AccountID })
	if len(env.Accounts) != 2 || i < 0 || !slices.Contains(env.Accounts, self.AccountID) {
		return nil, c.skip(ctx, env, true, fmt.Errorf("welcome for accounts %v", env.Accounts))
	}
	peerID := env.Accounts[i]
	bundles, err := c.prof.KeyPackages(ctx)
	if err != nil {
		return nil, err
	}
	var g mlsGroup
	var used profile.KeyPackage
	for _, kp := range bundles {
		if g, err = c.engine.JoinFromWelcome(env.Payload, kp.Bundle); err == nil {
			used = kp
			break
		}
	}
	if g == nil {
		return nil, c.skip(ctx, env, true, fmt.Errorf("welcome for none of this device's key packages: %v", err))
	}
	peer, err := c.verifyAccountID(ctx, peerID)
	var pe *proto.Error
	if errors.Is(err, ErrKeyLog) || errors.As(err, &pe) && !pe.Code.Retryable() {
		return nil, c.skip(ctx, env, true, err)
	}
	if err != nil {
		return nil, err // the connection failed: retry after reconnecting
	}
	conv := profile.Conversation{GroupID: g.GroupID(), Kind: int32(env.ConversationKind),
		PeerAccount: peer.ID, PeerHandle: peer.Handle, Created: c.clk.Now()}
	members := g.Members()
	if unknown, err := c.unverifiedMembers(ctx, conv, members, true); err != nil {
		return nil, err
	} else if len(unknown) > 0 {
		err := fmt.Errorf("%w: %v", ErrUnverifiedMember, unknown)
		c.tryEmit(KeyChangeEvent{Handle: peer.Handle, AccountID: peer.ID, Err: err})
		return nil, c.skip(ctx, env, true, fmt.Errorf("not joining a conversation with %s: %w", peer.Handle, err))
	}
	if !slices.ContainsFunc(members, peer.hasMember) {
		return nil, c.skip(ctx, env, true, fmt.Errorf("not joining a conversation with %s that holds none of its devices", peer.Handle))
	}
	_, err = c.keepJoined(ctx, env, conv, g, used, "a conversation")
	return nil, err
}

// commitError is a commit this device cannot take in. resync says whether
// rejoining the group could help (this device may have lost track of it)
// or the commit is simply not acceptable.
type commitError struct {
	resync bool
	err    error
}

func (e *commitError) Error() string { return e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// applyCommit processes another device's commit in g, at g's epoch, and
// checks it: it must be a commit (a proposal is never taken in: Parley
// clients send none, and a cached one would ride along in this device's
// next commit), from senderDevice when that is given, and its sender and
// the members it adds or updates must be verified devices of the
// conversation's accounts. A member that is not yields a warning (and the
// device is removed by reconciliation, sending refuses until then). On
// error g may have changed in memory: the caller must not save it.
func (c *Client) applyCommit(ctx context.Context, conv profile.Conversation, g mlsGroup, payload []byte, senderDevice string) ([]Event, error) {
	p, err := g.Process(payload)
	if err != nil {
		return nil, &commitError{resync: true, err: err}
	}
	if p.Kind != processedCommit {
		return nil, &commitError{err: fmt.Errorf("a handshake message of kind %d where a commit was expected", p.Kind)}
	}
	if senderDevice != "" && p.Sender.DeviceID != senderDevice {
		return nil, &commitError{err: fmt.Errorf("server says device %s sent the commit, MLS says %s", senderDevice, p.Sender.DeviceID)}
	}
	if len(p.Removed) > 0 {
		// A device left: refresh the accounts' key logs, which reports
		// (as a key change) a revocation this device did not know yet.
		if _, err := c.unverifiedMembers(ctx, conv, nil, true); err != nil {
			return nil, err
		}
	}
	check := append(append([]member{p.Sender}, p.Added...), p.Updated...)
	unknown, err := c.verifiedMembers(ctx, conv, check)
	if err != nil {
		return nil, err
	}
	if len(unknown) == 0 {
		return nil, nil
	}
	c.kickReconcile()
	return []Event{KeyChangeEvent{Handle: conv.PeerHandle, AccountID: conv.PeerAccount,
		Err: fmt.Errorf("%w: %v", ErrUnverifiedMember, unknown)}}, nil
}

// keepGroup saves g after a commit, with more in the same transaction, or
// forgets the group's keys when the commit removed this device (its
// history stays). Call with groupMu held.
func (c *Client) keepGroup(ctx context.Context, conv profile.Conversation, g mlsGroup, more func(*profile.Tx) error) error {
	if g.Active() {
		return c.saveGroup(ctx, conv, g, more)
	}
	return c.prof.Update(ctx, func(tx *profile.Tx) error {
		if err := tx.DeleteConversation(conv.GroupID); err != nil {
			return err
		}
		if more != nil {
			return more(tx)
		}
		return nil
	})
}

func (c *Client) receiveCommit(ctx context.Context, env *proto.Envelope) ([]Event, error) {
	// loadGroup first settles a commit of ours still pending, so a
	// commit that beat it is processed on the right state.
	conv, g, err := c.loadGroup(ctx, env.GroupId)
	if errors.Is(err, profile.ErrNotFound) {
		return nil, c.skip(ctx, env, true, errors.New("commit for a conversation this device is not in"))
	}
	if err != nil {
		return nil, err
	}
	markSeen := func(tx *profile.Tx) error { return tx.MarkSeen(seenKey(env), c.clk.Now()) }
	switch {
	case env.Epoch < g.Epoch():
		// Already applied: it won a race against our own commit and came
		// with the CONFLICT answer.
		c.log.Debug("skipping a commit already applied", "epoch", env.Epoch, "current", g.Epoch())
		return nil, c.prof.Update(ctx, markSeen)
	case env.Epoch > g.Epoch():
		return nil, c.rejoin(ctx, env, conv, fmt.Errorf("a commit of epoch %d while the conversation is at %d", env.Epoch, g.Epoch()))
	}
	events, err := c.applyCommit(ctx, conv, g, env.Payload, env.SenderDevice)
	var ce *commitError
	if errors.As(err, &ce) {
		if ce.resync {
			return nil, c.rejoin(ctx, env, conv, err)
		}
		return nil, c.skip(ctx, env, true, err)
	}
	if err != nil {
		return nil, err
	}
	if err := c.keepGroup(ctx, conv, g, markSeen); err != nil {
		return nil, err
	}
	c.groupAdvanced()
	return events, nil
}

// rejoin handles a commit this device cannot follow: it rejoins the group
// by external commit from the server's latest GroupInfo (so it reads what
// comes next; what it missed stays unreadable) and records the envelope as
// seen either way.
func (c *Client) rejoin(ctx context.Context, env *proto.Envelope, conv profile.Conversation, why error) error {
	c.log.Warn("lost track of a conversation; rejoining it", "with", conv.PeerHandle, "err", why)
	if err := c.resync(ctx, conv); err != nil {
		return c.skip(ctx, env, true, fmt.Errorf("%v; rejoining failed: %w", why, err))
	}
	return c.prof.Update(ctx, func(tx *profile.Tx) error { return tx.MarkSeen(seenKey(env), c.clk.Now()) })
}

func (c *Client) receiveApplication(ctx context.Context, env *proto.Envelope, stored bool, in *inbox) ([]Event, error) {
	conv, g, err := c.loadGroup(ctx, env.GroupId)
	if errors.Is(err, profile.ErrNotFound) {
		return nil, c.skip(ctx, env, stored, errors.New("message for a conversation this device is not in"))
	}
	if err != nil {
		return nil, err
	}
	p, err := g.Process(env.Payload)
	if err != nil {
		if env.Epoch > g.Epoch() {
			// A message of an epoch this device never reached: it missed a
			// commit. Rejoin, so the next messages are readable.
			return nil, c.rejoin(ctx, env, conv, fmt.Errorf("a message of epoch %d while the conversation is at %d: %w", env.Epoch, g.Epoch(), err))
		}
		return nil, c.skip(ctx, env, stored, err)
	}
	if p.Kind != processedApplication {
		return nil, c.skip(ctx, env, stored, errors.New("handshake message in an application envelope"))
	}
	// The server's sender claim must match the MLS sender.
	if p.Sender.DeviceID != env.SenderDevice {
		return nil, c.skip(ctx, env, stored, fmt.Errorf("server says device %s sent it, MLS says %s", env.SenderDevice, p.Sender.DeviceID))
	}
	self := c.Self()
	sender, err := c.senderOf(ctx, conv, p.Sender)
	if err != nil {
		return nil, err
	}
	if sender == nil {
		return nil, c.skip(ctx, env, stored, fmt.Errorf("%w: sender %s", ErrUnverifiedMember, p.Sender.DeviceID))
	}
	var content proto.Content
	if err := gproto.Unmarshal(p.Data, &content); err != nil {
		return nil, c.skip(ctx, env, stored, fmt.Errorf("undecodable content: %w", err))
	}
	now := c.clk.Now()
	own := sender.ID == self.AccountID
	markSeen := func(tx *profile.Tx) error {
		if !stored {
			return nil
		}
		return tx.MarkSeen(seenKey(env), now)
	}
	var events []Event
	var more func(tx *profile.Tx) error
	switch b := content.Body.(type) {
	case *proto.Content_Text, *proto.Content_ForwardedPost:
		if conv.ChannelID != "" {
			more = markSeen // the channel team's conversation carries keys only
			break
		}
		msg := Message{ID: env.MessageId, GroupID: conv.GroupID, SenderAccount: sender.ID, SenderHandle: sender.Handle,
			SenderDevice: p.Sender.DeviceID, Text: content.GetText().GetText(), Sent: timeMs(content.SentMs), Received: now,
			Outgoing: own, Shown: own}
		var fwd Event
		if fp := content.GetForwardedPost(); fp != nil {
			msg, fwd = c.receiveForward(ctx, fp, msg)
		}
		more = func(tx *profile.Tx) error {
			if err := tx.AddMessage(msg); err != nil {
				return err
			}
			return markSeen(tx)
		}
		events = append(events, MessageEvent{Message: msg})
		if fwd != nil {
			events = append(events, fwd)
		}
		if !own && stored {
			if in.receipts == nil {
				in.receipts = map[string][][]byte{}
			}
			in.receipts[string(conv.GroupID)] = append(in.receipts[string(conv.GroupID)], msg.ID)
		}
	case *proto.Content_Receipt:
		status := profile.StatusDelivered
		if b.Receipt.Kind == proto.Receipt_READ {
			status = profile.StatusRead
		}
		ids := b.Receipt.MessageIds
		more = func(tx *profile.Tx) error {
			if !own {
				if err := tx.SetStatus(ids, status); err != nil {
					return err
				}
			}
			return markSeen(tx)
		}
		if !own {
			events = append(events, ReceiptEvent{From: sender.Handle, Kind: b.Receipt.Kind, MessageIDs: ids, GroupID: conv.GroupID})
		}
	case *proto.Content_ChannelKey:
		save, evs, err := c.receiveChannelKey(conv, b.ChannelKey, now)
		if err != nil {
			return nil, c.skip(ctx, env, stored, err)
		}
		more = func(tx *profile.Tx) error {
			if err := save(tx); err != nil {
				return err
			}
			return markSeen(tx)
		}
		events = append(events, evs...)
	case *proto.Content_Typing:
		more = markSeen
		if !own {
			events = append(events, TypingEvent{From: sender.Handle, Typing: b.Typing.Typing, GroupID: conv.GroupID})
		}
	default:
		more = markSeen // a content type from a newer client
	}
	// The MLS state moved (a message key was consumed) even for typing:
	// save it, so a restart never re-derives a used key.
	if err := c.saveGroup(ctx, conv, g, more); err != nil {
		return nil, err
	}
	return events, nil
}

// senderOf finds which of the conversation's accounts lists the sending
// device (re-fetching the key logs once when neither does yet).
func (c *Client) senderOf(ctx context.Context, conv profile.Conversation, m member) (*account, error) {
	for attempt := 0; attempt < 2; attempt++ {
		ids, err := c.convAccounts(ctx, conv, attempt > 0)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			var a *account
			var err error
			if attempt == 0 {
				a, err = c.trusted(ctx, id)
			} else {
				a, err = c.verifyAccountID(ctx, id)
			}
			if err != nil {
				return nil, err
			}
			if a != nil && a.hasMember(m) {
				return a, nil
			}
		}
	}
	return nil, nil
}
