package directory

import (
	"context"
	"sync"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// lastSeenTimeout bounds the last-seen write made when a device leaves;
// it runs outside any request, so nothing else bounds it.
const lastSeenTimeout = 5 * time.Second

// maxLastSeenBatch bounds the accounts one last-seen transaction updates.
const maxLastSeenBatch = 512

// other checks that account id names an account other than the caller's.
func (s *Service) other(ctx context.Context, who gateway.Identity, id string) error {
	if id == who.AccountID {
		return proto.Errorf(proto.Code_BAD_REQUEST, "that is your own account")
	}
	_, err := s.account(ctx, "", id)
	return err
}

// SetContact marks or unmarks an account as the caller's contact.
func (s *Service) SetContact(ctx context.Context, who gateway.Identity, c *proto.SetContact) error {
	if err := s.other(ctx, who, c.AccountId); err != nil {
		return err
	}
	if err := s.st.SetContact(ctx, who.AccountID, c.AccountId, c.Contact); err != nil {
		return storeErr("set contact", err)
	}
	return nil
}

// SetBlocked blocks or unblocks an account for the caller.
func (s *Service) SetBlocked(ctx context.Context, who gateway.Identity, b *proto.SetBlocked) error {
	if err := s.other(ctx, who, b.AccountId); err != nil {
		return err
	}
	if err := s.st.SetBlocked(ctx, who.AccountID, b.AccountId, b.Blocked); err != nil {
		return storeErr("set blocked", err)
	}
	return nil
}

// SetPresenceVisibility sets who sees the caller's presence.
func (s *Service) SetPresenceVisibility(ctx context.Context, who gateway.Identity, v *proto.SetPresenceVisibility) error {
	if _, ok := proto.PresenceVisibility_name[int32(v.Visibility)]; !ok {
		return proto.Errorf(proto.Code_BAD_REQUEST, "unknown presence visibility %d; use EVERYONE, CONTACTS or NOBODY", v.Visibility)
	}
	if err := s.st.SetPresenceVisibility(ctx, who.AccountID, int32(v.Visibility)); err != nil {
		return storeErr("set presence visibility", err)
	}
	return nil
}

// GetPresence answers whether an account is online and when it was last
// seen, if that account lets the caller see it.
func (s *Service) GetPresence(ctx context.Context, who gateway.Identity, g *proto.GetPresence) (*proto.PresenceResult, error) {
	a, err := s.account(ctx, "", g.AccountId)
	if err != nil {
		return nil, err
	}
	if a.ID != who.AccountID {
		visible, err := s.presenceVisible(ctx, a.ID, proto.PresenceVisibility(a.Presence), who.AccountID)
		if err != nil {
			return nil, err
		}
		if !visible {
			return &proto.PresenceResult{}, nil
		}
	}
	res := &proto.PresenceResult{Visible: true, Online: s.online(a.ID)}
	if !a.LastSeen.IsZero() {
		res.LastSeenMs = a.LastSeen.UnixMilli()
	}
	return res, nil
}

// presenceVisible applies owner's privacy setting and blocks to viewer.
func (s *Service) presenceVisible(ctx context.Context, owner string, v proto.PresenceVisibility, viewer string) (bool, error) {
	blocked, err := s.st.IsBlocked(ctx, owner, viewer)
	if err != nil {
		return false, storeErr("presence: blocked", err)
	}
	switch {
	case blocked || v == proto.PresenceVisibility_NOBODY:
		return false, nil
	case v == proto.PresenceVisibility_CONTACTS:
		ok, err := s.st.IsContact(ctx, owner, viewer)
		if err != nil {
			return false, storeErr("presence: contact", err)
		}
		return ok, nil
	}
	return true, nil
}

// Left records when an account's last connection closed. The writes of
// accounts leaving together are coalesced: the first caller to find no
// write in progress writes what is pending, in transactions of up to
// maxLastSeenBatch accounts, until nothing is; the others only add their
// account to what is pending and return. So a disconnect storm costs a
// few transactions instead of one per account, none of which times out
// queueing behind the others. Pending entries are at most one per
// account that left.
func (s *Service) Left(accountID string, at time.Time) {
	l := &s.lastSeen
	l.mu.Lock()
	if prev, ok := l.pending[accountID]; !ok || at.After(prev) {
		if l.pending == nil {
			l.pending = make(map[string]time.Time)
		}
		l.pending[accountID] = at
	}
	if l.writing {
		l.mu.Unlock()
		return
	}
	l.writing = true
	for len(l.pending) > 0 {
		batch := make([]store.LastSeen, 0, min(len(l.pending), maxLastSeenBatch))
		for id, t := range l.pending {
			if len(batch) == maxLastSeenBatch {
				break
			}
			batch = append(batch, store.LastSeen{AccountID: id, At: t})
			delete(l.pending, id)
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), lastSeenTimeout)
		if err := s.st.SetLastSeenAll(ctx, batch); err != nil {
			s.log.Warn("last seen not recorded", "accounts", len(batch), "err", err)
		}
		cancel()
		l.mu.Lock()
	}
	l.writing = false
	l.mu.Unlock()
}

// lastSeenWriter holds the last-seen times waiting to be written.
type lastSeenWriter struct {
	mu      sync.Mutex
	pending map[string]time.Time
	writing bool // a caller of Left is writing pending
}
