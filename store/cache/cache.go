// Package cache wraps a store.Store with bounded in-memory caches of what
// every Send reads: a group's state (epoch, kind, accounts, member
// devices) and whether one account blocks another. Without them each Send
// cost four queries before its mailbox write.
//
// Coherence. Every change made through the wrapper updates or drops the
// entries it affects before it returns: ApplyCommit stores the group it
// returns, RevokeDevice drops every group (a revoked device leaves all its
// groups; revocations are rare), SetBlocked drops its pair. A read that
// raced with a change never stores its older result (see gen). So on a
// single node, where every change passes through this process, the cache
// is exact and entries need no lifetime (ttl 0).
//
// In a cluster, other nodes change the shared store behind this one's
// back, so New is given a ttl: an entry is used for at most that long
// after it was read. A short ttl was chosen over invalidation messages on
// the bus because it needs no new wire message, and a lost or delayed
// message could not leave an entry stale for longer than the ttl. What it
// means: a Send handled here may reach a device that a commit applied on
// another node removed less than ttl ago (as a Send racing that commit
// always could), and a Send whose epoch differs from the cached one
// always reads the store again (Fresh), so a sender that processed a
// remote commit is never refused on stale data.
package cache

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/store"
)

// Bounds of the caches. An entry is a few hundred bytes, so the two
// together hold at most a few tens of MB; past the bound the least
// recently used entry goes.
const (
	// MaxGroups is how many groups' states are kept.
	MaxGroups = 65536
	// MaxBlocks is how many (owner, other) block answers are kept.
	MaxBlocks = 65536
)

// Store is a store.Store whose Group and IsBlocked answers come from
// memory when it has them.
type Store struct {
	store.Store
	clk clock.Clock
	ttl time.Duration // 0: entries never expire (single node)

	// gen counts changes; a read stores its result only if no change
	// happened since it began, so an answer read before a change never
	// overwrites what the change put in.
	gen atomic.Uint64

	mu     sync.Mutex
	groups *lru[string, store.Group]
	blocks *lru[[2]string, bool]
}

// New wraps st. ttl is how long an entry may be used after it was read;
// 0 when this process makes every change to st.
func New(st store.Store, ttl time.Duration, clk clock.Clock) *Store {
	return &Store{
		Store: st, clk: clock.OrReal(clk), ttl: ttl,
		groups: newLRU[string, store.Group](MaxGroups),
		blocks: newLRU[[2]string, bool](MaxBlocks),
	}
}

// Group returns the group's state, from memory when a fresh copy is there.
// The slices are the caller's to keep.
func (s *Store) Group(ctx context.Context, id []byte) (store.Group, error) {
	now := s.clk.Now()
	s.mu.Lock()
	g, ok := s.groups.get(string(id), now)
	s.mu.Unlock()
	if ok {
		return cloneGroup(g), nil
	}
	return s.Fresh(ctx, id)
}

// Fresh reads the group's state from the store and caches it.
func (s *Store) Fresh(ctx context.Context, id []byte) (store.Group, error) {
	gen := s.gen.Load()
	g, err := s.Store.Group(ctx, id)
	if err != nil {
		return g, err
	}
	s.put(gen, func(now time.Time) { s.groups.put(string(id), cloneGroup(g), s.expiry(now)) })
	return g, nil
}

// ApplyCommit applies the commit and caches the group it leaves.
func (s *Store) ApplyCommit(ctx context.Context, c store.CommitRecord) (store.Group, error) {
	g, err := s.Store.ApplyCommit(ctx, c)
	s.change(func(now time.Time) {
		s.groups.remove(string(c.GroupID))
		if err == nil {
			s.groups.put(string(c.GroupID), cloneGroup(g), s.expiry(now))
		}
	})
	return g, err
}

// RevokeDevice revokes the device and forgets every group.
func (s *Store) RevokeDevice(ctx context.Context, accountID, deviceID string, entry store.LogEntry, at time.Time) error {
	err := s.Store.RevokeDevice(ctx, accountID, deviceID, entry, at)
	s.change(func(time.Time) { s.groups.clear() })
	return err
}

// IsBlocked reports whether owner blocks other, from memory when it can.
func (s *Store) IsBlocked(ctx context.Context, owner, other string) (bool, error) {
	key := [2]string{owner, other}
	now := s.clk.Now()
	s.mu.Lock()
	b, ok := s.blocks.get(key, now)
	s.mu.Unlock()
	if ok {
		return b, nil
	}
	gen := s.gen.Load()
	b, err := s.Store.IsBlocked(ctx, owner, other)
	if err != nil {
		return b, err
	}
	s.put(gen, func(now time.Time) { s.blocks.put(key, b, s.expiry(now)) })
	return b, nil
}

// SetBlocked changes the block and forgets the pair's answer.
func (s *Store) SetBlocked(ctx context.Context, owner, other string, blocked bool) error {
	err := s.Store.SetBlocked(ctx, owner, other, blocked)
	s.change(func(time.Time) { s.blocks.remove([2]string{owner, other}) })
	return err
}

// change runs fn under the lock and makes reads begun before it drop
// their results. It runs whether or not the store call failed: a failed
// write may still have been applied (a commit lost in transit).
func (s *Store) change(fn func(now time.Time)) {
	now := s.clk.Now()
	s.mu.Lock()
	s.gen.Add(1)
	fn(now)
	s.mu.Unlock()
}

// put stores a read's result unless a change happened since gen.
func (s *Store) put(gen uint64, fn func(now time.Time)) {
	now := s.clk.Now()
	s.mu.Lock()
	if s.gen.Load() == gen {
		fn(now)
	}
	s.mu.Unlock()
}

func (s *Store) expiry(now time.Time) time.Time {
	if s.ttl == 0 {
		return time.Time{}
	}
	return now.Add(s.ttl)
}

func cloneGroup(g store.Group) store.Group {
	g.ID = slices.Clone(g.ID)
	g.Accounts = slices.Clone(g.Accounts)
	g.Devices = slices.Clone(g.Devices)
	return g
}
