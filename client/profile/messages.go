package profile

import (
	"context"
	"fmt"
	"time"
)

// Status is how far an outgoing message got, from the recipients' receipts.
type Status int

const (
	StatusSent      Status = 0 // accepted by the server
	StatusDelivered Status = 1 // a device of the recipient decrypted it
	StatusRead      Status = 2 // the recipient displayed it
)

func (s Status) String() string {
	switch s {
	case StatusDelivered:
		return "delivered"
	case StatusRead:
		return "read"
	}
	return "sent"
}

// Message is one text message of the history, incoming or outgoing.
type Message struct {
	ID            []byte // client-chosen, 16 bytes
	GroupID       []byte
	SenderAccount string
	SenderHandle  string
	SenderDevice  string
	Text          string
	Sent          time.Time // the sender's claim, from inside the encrypted content
	Received      time.Time
	Outgoing      bool
	Status        Status
	Shown         bool // handed to the user by recv or chat
}

const msgColumns = `id, group_id, sender_account, sender_handle, sender_device, text, sent_ms, received_ms, outgoing, status, shown`

func scanMessages(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) ([]Message, error) {
	var out []Message
	for rows.Next() {
		var m Message
		var sent, recv int64
		if err := rows.Scan(&m.ID, &m.GroupID, &m.SenderAccount, &m.SenderHandle, &m.SenderDevice, &m.Text,
			&sent, &recv, &m.Outgoing, &m.Status, &m.Shown); err != nil {
			return nil, fmt.Errorf("profile: read message: %w", err)
		}
		m.Sent, m.Received = time.UnixMilli(sent), time.UnixMilli(recv)
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddMessage stores a message; a message whose id is already stored is
// left as it is (redelivery).
func (t *Tx) AddMessage(m Message) error {
	err := t.exec(`INSERT OR IGNORE INTO messages(`+msgColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.GroupID, m.SenderAccount, m.SenderHandle, m.SenderDevice, m.Text,
		m.Sent.UnixMilli(), m.Received.UnixMilli(), m.Outgoing, m.Status, m.Shown)
	if err != nil {
		return fmt.Errorf("profile: save message: %w", err)
	}
	return nil
}

// SetStatus raises the status of this account's outgoing messages (a late
// "delivered" never lowers "read").
func (t *Tx) SetStatus(ids [][]byte, s Status) error {
	for _, id := range ids {
		if err := t.exec(`UPDATE messages SET status = max(status, ?) WHERE id = ? AND outgoing = 1`, s, id); err != nil {
			return fmt.Errorf("profile: update status: %w", err)
		}
	}
	return nil
}

// Seen reports whether an incoming message id was processed before.
func (t *Tx) Seen(id []byte) (bool, error) {
	var n int
	if err := t.tx.QueryRowContext(t.ctx, `SELECT count(*) FROM seen WHERE id = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("profile: read seen: %w", err)
	}
	return n > 0, nil
}

// MarkSeen records that an incoming message id was processed, so a
// redelivery (after a lost ack) is skipped.
func (t *Tx) MarkSeen(id []byte, at time.Time) error {
	return t.exec(`INSERT OR IGNORE INTO seen(id, at_ms) VALUES (?, ?)`, id, at.UnixMilli())
}

// PruneSeen forgets processed ids recorded before `before`. The server
// drops undelivered mail after proto.MailboxTTL, so ids older than that
// can never come back.
func (p *Profile) PruneSeen(ctx context.Context, before time.Time) error {
	_, err := p.db.ExecContext(ctx, `DELETE FROM seen WHERE at_ms < ?`, before.UnixMilli())
	return err
}

// Unshown returns up to limit incoming messages not yet handed to the
// user, oldest first.
func (p *Profile) Unshown(ctx context.Context, limit int) ([]Message, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+msgColumns+` FROM messages WHERE shown = 0 AND outgoing = 0
		ORDER BY received_ms, rowid LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("profile: list unshown: %w", err)
	}
	defer rows.Close()
	return scanMessages(rows)
}

// MarkShown records that messages were handed to the user.
func (p *Profile) MarkShown(ctx context.Context, ids ...[]byte) error {
	for _, id := range ids {
		if _, err := p.db.ExecContext(ctx, `UPDATE messages SET shown = 1 WHERE id = ?`, id); err != nil {
			return fmt.Errorf("profile: mark shown: %w", err)
		}
	}
	return nil
}

// Message returns one message by id.
func (p *Profile) Message(ctx context.Context, id []byte) (Message, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+msgColumns+` FROM messages WHERE id = ?`, id)
	if err != nil {
		return Message{}, fmt.Errorf("profile: read message: %w", err)
	}
	defer rows.Close()
	ms, err := scanMessages(rows)
	if err != nil {
		return Message{}, err
	}
	if len(ms) == 0 {
		return Message{}, ErrNotFound
	}
	return ms[0], nil
}

// History returns the last limit messages of a conversation, oldest first.
func (p *Profile) History(ctx context.Context, groupID []byte, limit int) ([]Message, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT `+msgColumns+` FROM (SELECT *, rowid AS r FROM messages WHERE group_id = ?
		ORDER BY received_ms DESC, r DESC LIMIT ?) ORDER BY received_ms, r`, groupID, limit)
	if err != nil {
		return nil, fmt.Errorf("profile: read history: %w", err)
	}
	defer rows.Close()
	return scanMessages(rows)
}
