package profile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Conversation is one MLS group this device is in, with its exported
// state (mls Group.Export) as of the last change.
type Conversation struct {
	GroupID     []byte
	Kind        int32  // proto.ConversationKind
	PeerAccount string // for DIRECT: the other account
	PeerHandle  string
	// ChannelID is set for CHANNEL_ADMINS: the channel whose owner's and
	// admins' devices the group holds (PeerAccount is then empty).
	ChannelID string
	Epoch     uint64
	State     []byte
	Created   time.Time
	// PendingCommit is the serialized proto.Commit request this device
	// sent (or is about to send) from this group, whose answer it has not
	// seen yet; State then holds the commit as pending. Nil when none.
	PendingCommit []byte
}

const convColumns = `group_id, kind, peer_account, peer_handle, epoch, state, created_ms, channel_id, pending_commit`

func scanConversation(row interface{ Scan(...any) error }) (Conversation, error) {
	var c Conversation
	var created int64
	err := row.Scan(&c.GroupID, &c.Kind, &c.PeerAccount, &c.PeerHandle, &c.Epoch, &c.State, &created, &c.ChannelID, &c.PendingCommit)
	if errors.Is(err, sql.ErrNoRows) {
		return Conversation{}, ErrNotFound
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("profile: read conversation: %w", err)
	}
	c.Created = time.UnixMilli(created)
	return c, nil
}

// Conversation returns the conversation with this group id.
func (p *Profile) Conversation(ctx context.Context, groupID []byte) (Conversation, error) {
	return scanConversation(p.db.QueryRowContext(ctx, `SELECT `+convColumns+` FROM conversations WHERE group_id = ?`, groupID))
}

// ConversationWith returns the direct conversation with an account. When
// two devices created one concurrently there are two; both sides pick the
// one with the smallest group id to send, so they converge, and both keep
// receiving on either.
func (p *Profile) ConversationWith(ctx context.Context, peerAccount string) (Conversation, error) {
	return scanConversation(p.db.QueryRowContext(ctx,
		`SELECT `+convColumns+` FROM conversations WHERE peer_account = ? AND channel_id = '' ORDER BY group_id LIMIT 1`, peerAccount))
}

// Conversations lists every conversation.
func (p *Profile) Conversations(ctx context.Context) ([]Conversation, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+convColumns+` FROM conversations ORDER BY created_ms, group_id`)
	if err != nil {
		return nil, fmt.Errorf("profile: list conversations: %w", err)
	}
	defer rows.Close()
	var out []Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SaveConversation inserts or replaces a conversation's record and state.
func (t *Tx) SaveConversation(c Conversation) error {
	err := t.exec(`INSERT INTO conversations(`+convColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(group_id) DO UPDATE SET kind = excluded.kind, peer_account = excluded.peer_account,
			peer_handle = excluded.peer_handle, epoch = excluded.epoch, state = excluded.state, channel_id = excluded.channel_id,
			pending_commit = excluded.pending_commit`,
		c.GroupID, c.Kind, c.PeerAccount, c.PeerHandle, c.Epoch, c.State, c.Created.UnixMilli(), c.ChannelID, nilIfEmpty(c.PendingCommit))
	if err != nil {
		return fmt.Errorf("profile: save conversation: %w", err)
	}
	return nil
}

// AddConversation stores a conversation this device just joined. Unlike
// SaveConversation it never replaces one: a second Welcome for a group id
// already held gets ErrExists, so nobody can overwrite a conversation's
// state by sending a new Welcome for it.
func (t *Tx) AddConversation(c Conversation) error {
	var n int
	if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM conversations WHERE group_id = ?`, c.GroupID).Scan(&n); err != nil {
		return fmt.Errorf("profile: read conversation: %w", err)
	}
	if n > 0 {
		return ErrExists
	}
	return t.SaveConversation(c)
}

// PendingCommits lists the conversations holding a commit whose answer
// this device has not seen (to resend after a restart).
func (p *Profile) PendingCommits(ctx context.Context) ([]Conversation, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+convColumns+` FROM conversations WHERE pending_commit IS NOT NULL ORDER BY created_ms, group_id`)
	if err != nil {
		return nil, fmt.Errorf("profile: list pending commits: %w", err)
	}
	defer rows.Close()
	var out []Conversation
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// DeleteConversation forgets a conversation's state (its history stays).
func (t *Tx) DeleteConversation(groupID []byte) error {
	return t.exec(`DELETE FROM conversations WHERE group_id = ?`, groupID)
}

// Conversation reads a conversation inside the transaction.
func (t *Tx) Conversation(groupID []byte) (Conversation, error) {
	return scanConversation(t.tx.QueryRowContext(t.ctx, `SELECT `+convColumns+` FROM conversations WHERE group_id = ?`, groupID))
}
