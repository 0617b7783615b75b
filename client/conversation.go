package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// MaxTextBytes bounds one text message. With its Content wrapper and MLS
// padding and framing it stays well inside proto.MaxCiphertextBytes.
const MaxTextBytes = 16 << 10

// ErrUnverifiedMember means a conversation holds a device that is not in
// the verified device list of either account: nothing is sent to it.
var ErrUnverifiedMember = errors.New("client: the conversation contains a device that neither account's verified key log lists; not sending (check the safety number)")

// errNoPeerDevice: a DIRECT conversation holds no device of the peer, so
// nobody on the other side could read what is sent in it.
var errNoPeerDevice = errors.New("client: the conversation holds none of the peer's devices")

func newMessageID() []byte {
	id := make([]byte, proto.MessageIDBytes)
	rand.Read(id)
	return id
}

// Send encrypts text to every device of handle's account (and this
// account's other devices), creating the 1:1 conversation on first use.
// The returned message is already in the local history.
func (c *Client) Send(ctx context.Context, handle, text string) (Message, error) {
	if text == "" {
		return Message{}, proto.Errorf(proto.Code_BAD_REQUEST, "empty message")
	}
	if len(text) > MaxTextBytes || !utf8.ValidString(text) {
		return Message{}, proto.Errorf(proto.Code_TOO_LARGE, "a message is at most %d bytes of UTF-8 text", MaxTextBytes)
	}
	conv, err := c.conversationWith(ctx, handle)
	if err != nil {
		return Message{}, err
	}
	id := newMessageID()
	now := c.clk.Now()
	self := c.Self()
	msg := Message{ID: id, GroupID: conv.GroupID, SenderAccount: self.AccountID, SenderHandle: self.Handle,
		SenderDevice: c.deviceID, Text: text, Sent: now, Received: now, Outgoing: true, Shown: true}
	content := &proto.Content{Id: id, SentMs: now.UnixMilli(), Body: &proto.Content_Text{Text: &proto.Text{Text: text}}}
	err = c.sendContent(ctx, conv.GroupID, id, content, false, &msg)
	if errors.Is(err, errNoPeerDevice) {
		// Nobody on the other side can read this conversation (an older
		// client made it without the peer's devices): forget it and
		// start one that holds them.
		c.log.Warn("the conversation holds none of the peer's devices; starting a new one", "with", conv.PeerHandle)
		if conv, err = c.replaceConversation(ctx, conv); err != nil {
			return Message{}, err
		}
		msg.GroupID = conv.GroupID
		err = c.sendContent(ctx, conv.GroupID, id, content, false, &msg)
	}
	if err != nil {
		return Message{}, err
	}
	return msg, nil
}

// replaceConversation forgets a DIRECT conversation's keys (its history
// stays) and creates a new one with the same peer.
func (c *Client) replaceConversation(ctx context.Context, old profile.Conversation) (profile.Conversation, error) {
	peer, err := c.verifyAccountID(ctx, old.PeerAccount)
	if err != nil {
		return profile.Conversation{}, err
	}
	if err := c.lockGroups(ctx); err != nil {
		return profile.Conversation{}, err
	}
	err = c.prof.Update(ctx, func(tx *profile.Tx) error { return tx.DeleteConversation(old.GroupID) })
	c.groupMu.Unlock()
	if err != nil {
		return profile.Conversation{}, err
	}
	return c.createConversation(ctx, peer)
}

// SetTyping tells handle's devices that this user is (or stopped) typing.
// It is ephemeral: only connected devices get it, nothing stores it, and
// without a conversation yet it does nothing.
func (c *Client) SetTyping(ctx context.Context, handle string, typing bool) error {
	conv, err := c.existingConversation(ctx, handle)
	if err != nil || conv == nil {
		return err
	}
	content := &proto.Content{SentMs: c.clk.Now().UnixMilli(), Body: &proto.Content_Typing{Typing: &proto.Typing{Typing: typing}}}
	return c.sendContent(ctx, conv.GroupID, newMessageID(), content, true, nil)
}

// MarkRead records that the user saw these incoming messages and sends
// read receipts to their senders.
func (c *Client) MarkRead(ctx context.Context, msgs ...Message) error {
	byGroup := map[string][][]byte{}
	var ids [][]byte
	for _, m := range msgs {
		ids = append(ids, m.ID)
		if !m.Outgoing {
			byGroup[string(m.GroupID)] = append(byGroup[string(m.GroupID)], m.ID)
		}
	}
	if err := c.prof.MarkShown(ctx, ids...); err != nil {
		return err
	}
	var errs []error
	for g, ids := range byGroup {
		errs = append(errs, c.sendReceipt(ctx, []byte(g), proto.Receipt_READ, ids))
	}
	return errors.Join(errs...)
}

// Unshown returns incoming messages not yet handed to the user (for
// example received while another command ran), oldest first.
func (c *Client) Unshown(ctx context.Context) ([]Message, error) {
	return c.prof.Unshown(ctx, 1000)
}

func (c *Client) sendReceipt(ctx context.Context, groupID []byte, kind proto.Receipt_Kind, ids [][]byte) error {
	for len(ids) > 0 {
		// Bound one receipt well inside the ciphertext limit.
		n := min(len(ids), 512)
		content := &proto.Content{SentMs: c.clk.Now().UnixMilli(),
			Body: &proto.Content_Receipt{Receipt: &proto.Receipt{Kind: kind, MessageIds: ids[:n]}}}
		if err := c.sendContent(ctx, groupID, newMessageID(), content, false, nil); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// sendContent encrypts content in the group and sends it. The advanced
// MLS state (and record, the history entry, if any) is saved before the
// ciphertext leaves, so a crash can never make this device reuse a
// message key.
//
// The server refuses a message encrypted in an epoch other than the
// group's (members that moved on could not open it) with CONFLICT and the
// current epoch: the client then waits for the missed commits to arrive
// through its mailbox and encrypts again, at most maxSendAttempts times.
func (c *Client) sendContent(ctx context.Context, groupID, id []byte, content *proto.Content, ephemeral bool, record *Message) error {
	pt, err := gproto.Marshal(content)
	if err != nil {
		return err
	}
	repaired := false
	for attempt := 1; ; attempt++ {
		epoch, ct, err := c.encrypt(ctx, groupID, pt, record)
		if errors.Is(err, ErrUnverifiedMember) && !repaired {
			// The group holds a device neither account lists (say one
			// revoked while its removal failed): remove it, then encrypt
			// for the verified devices only.
			repaired = true
			if rerr := c.reconcileGroup(ctx, groupID); rerr != nil {
				return fmt.Errorf("%w (removing it failed: %v)", err, rerr)
			}
			continue
		}
		if err != nil {
			return err
		}
		record = nil // saved with the first encryption
		resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_Send{Send: &proto.Send{
			GroupId: groupID, MessageId: id, Epoch: epoch, Ciphertext: ct, Ephemeral: ephemeral}}})
		var pe *proto.Error
		switch {
		case err == nil:
			return nil
		case errors.As(err, &pe) && pe.Code == proto.Code_DUPLICATE:
			return nil // a retry after a lost response: the first one was stored
		case errors.As(err, &pe) && pe.Code == proto.Code_FORBIDDEN:
			return proto.Errorf(proto.Code_FORBIDDEN, "this device is no longer in the conversation")
		case errors.As(err, &pe) && pe.Code == proto.Code_CONFLICT && attempt < maxSendAttempts && !ephemeral:
			want := resp.GetConflict().GetEpoch()
			c.log.Debug("message encrypted in a stale epoch; waiting for missed commits", "epoch", epoch, "server_epoch", want)
			if err := c.catchUp(ctx, groupID, want); err != nil {
				return err
			}
		default:
			return err
		}
	}
}

// maxSendAttempts bounds how often one message is re-encrypted because the
// conversation moved to a new epoch under it.
const maxSendAttempts = 3

// encrypt encrypts pt in the group's current epoch, saving the advanced
// state (and record, if any) before returning the ciphertext.
func (c *Client) encrypt(ctx context.Context, groupID, pt []byte, record *Message) (uint64, []byte, error) {
	// Delivery receipts are encrypted on the connection's goroutine: it
	// must not wait for groupMu beyond ctx (see lockGroups).
	if err := c.lockGroups(ctx); err != nil {
		return 0, nil, err
	}
	defer c.groupMu.Unlock()
	conv, g, err := c.loadGroup(ctx, groupID)
	if err != nil {
		return 0, nil, err
	}
	if err := c.checkMembers(ctx, conv, g); err != nil {
		return 0, nil, err
	}
	ct, err := g.Encrypt(pt, nil)
	if err != nil {
		return 0, nil, err
	}
	err = c.saveGroup(ctx, conv, g, func(tx *profile.Tx) error {
		if record != nil {
			return tx.AddMessage(*record)
		}
		return nil
	})
	return g.Epoch(), ct, err
}

// loadGroup restores a conversation's MLS state. A commit of this device
// whose answer was never seen is settled first (see commitsend.go), so
// nothing builds on an undecided epoch; profile.ErrNotFound then means
// the conversation's creation was refused. Call with groupMu held.
func (c *Client) loadGroup(ctx context.Context, groupID []byte) (profile.Conversation, mlsGroup, error) {
	conv, err := c.prof.Conversation(ctx, groupID)
	if err != nil {
		return conv, nil, err
	}
	g, err := c.engine.Import(conv.State)
	if err != nil {
		return conv, nil, fmt.Errorf("restore conversation state: %w", err)
	}
	if conv.PendingCommit != nil {
		if conv, err = c.resolvePending(ctx, conv, g); err != nil {
			return conv, nil, err
		}
	}
	return conv, g, nil
}

// saveGroup stores g's state, and whatever more happens in the same
// transaction. Call with groupMu held.
func (c *Client) saveGroup(ctx context.Context, conv profile.Conversation, g mlsGroup, more func(*profile.Tx) error) error {
	_, err := c.putGroup(ctx, conv, g, more)
	return err
}

// putGroup is saveGroup returning the conversation as saved.
func (c *Client) putGroup(ctx context.Context, conv profile.Conversation, g mlsGroup, more func(*profile.Tx) error) (profile.Conversation, error) {
	state, err := g.Export()
	if err != nil {
		return conv, fmt.Errorf("export conversation state: %w", err)
	}
	conv.State, conv.Epoch = state, g.Epoch()
	return conv, c.prof.Update(ctx, func(tx *profile.Tx) error {
		if err := tx.SaveConversation(conv); err != nil {
			return err
		}
		if more != nil {
			return more(tx)
		}
		return nil
	})
}

// checkMembers refuses to encrypt to a group holding a device that is
// not in the verified device list of one of its accounts, and to a DIRECT
// group holding no device of the peer (nobody there could read it).
// Active devices of the peer that the group lacks are logged: the peer's
// own devices add them (reconciliation), this one sends meanwhile.
func (c *Client) checkMembers(ctx context.Context, conv profile.Conversation, g mlsGroup) error {
	members := g.Members()
	unknown, err := c.verifiedMembers(ctx, conv, members)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		c.tryEmit(KeyChangeEvent{Handle: conv.PeerHandle, AccountID: conv.PeerAccount,
			Err: fmt.Errorf("%w: %v", ErrUnverifiedMember, unknown)})
		return fmt.Errorf("%w: %v", ErrUnverifiedMember, unknown)
	}
	if conv.ChannelID != "" {
		return nil
	}
	peer, err := c.trusted(ctx, conv.PeerAccount)
	if err == nil && peer == nil {
		peer, err = c.verifyAccountID(ctx, conv.PeerAccount)
	}
	if err != nil {
		return err
	}
	var missing []string
	for id, d := range peer.Devices {
		if !slices.ContainsFunc(members, func(m member) bool { return m.DeviceID == id && string(m.SignatureKey) == string(d.SigningKey) }) {
			missing = append(missing, id)
		}
	}
	if len(missing) == len(peer.Devices) {
		return errNoPeerDevice
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		c.log.Warn("devices of the peer are not in the conversation yet; they do not get this message", "peer", conv.PeerHandle, "missing", missing)
	}
	return nil
}

// verifiedMembers lists the members that are not verified devices of the
// conversation's accounts, checking against the key logs this device
// trusts first and re-fetching them when something does not match (a
// device may have been linked since the last check).
func (c *Client) verifiedMembers(ctx context.Context, conv profile.Conversation, members []member) ([]string, error) {
	unknown, err := c.unverifiedMembers(ctx, conv, members, false)
	if err != nil || len(unknown) == 0 {
		return unknown, err
	}
	return c.unverifiedMembers(ctx, conv, members, true)
}

// unverifiedMembers lists members whose credential and signature key are
// not a device of the conversation's accounts.
func (c *Client) unverifiedMembers(ctx context.Context, conv profile.Conversation, members []member, refresh bool) ([]string, error) {
	ids, err := c.convAccounts(ctx, conv, refresh)
	if err != nil {
		return nil, err
	}
	var accounts []*account
	for _, id := range ids {
		var a *account
		var err error
		if refresh {
			a, err = c.verifyAccountID(ctx, id)
		} else if a, err = c.trusted(ctx, id); a == nil && err == nil {
			a, err = c.verifyAccountID(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		accounts = append(accounts, a)
	}
	var unknown []string
	for _, m := range members {
		if !slices.ContainsFunc(accounts, func(a *account) bool { return a.hasMember(m) }) {
			unknown = append(unknown, m.DeviceID)
		}
	}
	return unknown, nil
}

func (a *account) hasMember(m member) bool {
	d, ok := a.Devices[m.DeviceID]
	return ok && string(d.SigningKey) == string(m.SignatureKey)
}

// convAccounts returns the accounts whose devices may be members of a
// conversation: the two accounts of a DIRECT one, the channel's owner and
// admins for a CHANNEL_ADMINS one (re-read from the server on refresh).
func (c *Client) convAccounts(ctx context.Context, conv profile.Conversation, refresh bool) ([]string, error) {
	if conv.ChannelID != "" {
		return c.channelConvAccounts(ctx, conv, refresh)
	}
	return []string{conv.PeerAccount, c.Self().AccountID}, nil
}

// existingConversation returns the conversation with handle's account, or
// nil if there is none yet.
func (c *Client) existingConversation(ctx context.Context, handle string) (*profile.Conversation, error) {
	peer, err := c.lookupPeer(ctx, handle)
	if err != nil {
		return nil, err
	}
	conv, err := c.prof.ConversationWith(ctx, peer.ID)
	if errors.Is(err, profile.ErrNotFound) {
		return nil, nil
	}
	return &conv, err
}

// lookupPeer resolves a handle to a verified account that is not ours.
func (c *Client) lookupPeer(ctx context.Context, handle string) (*account, error) {
	self := c.Self()
	if self.AccountID == "" {
		return nil, profile.ErrNotRegistered
	}
	peer, err := c.verifyHandle(ctx, handle)
	if err != nil {
		return nil, err
	}
	if peer.ID == self.AccountID {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "%s is this account; send to someone else (your other devices get your messages anyway)", handle)
	}
	return peer, nil
}

// conversationWith returns the conversation with handle's account,
// creating it when there is none.
func (c *Client) conversationWith(ctx context.Context, handle string) (profile.Conversation, error) {
	if _, none := c.engine.(noEngine); none {
		return profile.Conversation{}, ErrNoEncryption
	}
	peer, err := c.lookupPeer(ctx, handle)
	if err != nil {
		return profile.Conversation{}, err
	}
	conv, err := c.prof.ConversationWith(ctx, peer.ID)
	if err == nil || !errors.Is(err, profile.ErrNotFound) {
		return conv, err
	}
	return c.createConversation(ctx, peer)
}

// Peer names another account.
type Peer struct {
	Handle    string
	AccountID string
}

// History resolves handle and returns the last n messages exchanged with
// it, oldest first (none before the first message).
func (c *Client) History(ctx context.Context, handle string, n int) (Peer, []Message, error) {
	acc, err := c.lookupPeer(ctx, handle)
	if err != nil {
		return Peer{}, nil, err
	}
	p := Peer{Handle: acc.Handle, AccountID: acc.ID}
	conv, err := c.prof.ConversationWith(ctx, acc.ID)
	if errors.Is(err, profile.ErrNotFound) {
		return p, nil, nil
	}
	if err != nil {
		return p, nil, err
	}
	msgs, err := c.prof.History(ctx, conv.GroupID, n)
	return p, msgs, err
}

// PeerOf returns the other account of a conversation this device is in.
func (c *Client) PeerOf(ctx context.Context, groupID []byte) (Peer, error) {
	conv, err := c.prof.Conversation(ctx, groupID)
	if err != nil {
		return Peer{}, err
	}
	return Peer{Handle: conv.PeerHandle, AccountID: conv.PeerAccount}, nil
}
