// Package local is the in-process bus: a map from device id to the
// callbacks of the connections in this process. It is what `parley serve`
// uses on a single node.
package local

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/bus"
)

// Bus delivers synchronously, on the publisher's goroutine, so one
// publisher's messages keep their order without a queue.
//
// A subscription is one small record in a list per device (nearly always
// of one): an idle connection costs that record and a map entry, not a
// slice, a closure and a sync.Once of its own.
type Bus struct {
	mu     sync.RWMutex
	subs   map[string]*subscription // by device id, and channelKey(id) for channel topics: the first of a list
	closed bool
	mails  atomic.Uint64 // see MailSignals
}

// subscription is one subscriber; next and gone are guarded by Bus.mu.
type subscription struct {
	b    *Bus
	key  string
	fn   func(bus.Message)
	next *subscription
	gone bool
}

var (
	_ bus.Bus           = (*Bus)(nil)
	_ bus.Prober        = (*Bus)(nil)
	_ bus.ChannelRouter = (*Bus)(nil)
)

// channelKey keeps channel topics apart from device ids in subs: a NUL
// never appears in an id.
func channelKey(channelID string) string { return "\x00chan\x00" + channelID }

// SubscribeChannel implements bus.ChannelRouter.
func (b *Bus) SubscribeChannel(channelID string, fn func(bus.Message)) (func(), error) {
	return b.Subscribe(channelKey(channelID), fn)
}

// PublishChannel implements bus.ChannelRouter.
func (b *Bus) PublishChannel(ctx context.Context, channelID string, m bus.Message) error {
	return b.Publish(ctx, channelKey(channelID), m)
}

// New returns an empty bus.
func New() *Bus { return &Bus{subs: make(map[string]*subscription)} }

// Subscribe implements bus.Bus. Subscribers of one device are called in
// the order they subscribed.
func (b *Bus) Subscribe(deviceID string, fn func(bus.Message)) (func(), error) {
	s := &subscription{b: b, key: deviceID, fn: fn}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	p := b.subs[deviceID]
	if p == nil {
		b.subs[deviceID] = s
	} else {
		for p.next != nil {
			p = p.next
		}
		p.next = s
	}
	return s.cancel, nil
}

// cancel removes the subscription; later calls do nothing. Publish runs
// callbacks under the read lock, so the list never changes under it.
func (s *subscription) cancel() {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.gone || b.closed {
		return
	}
	s.gone = true
	head := b.subs[s.key]
	if head == s {
		head = s.next
	} else {
		for p := head; p != nil; p = p.next {
			if p.next == s {
				p.next = s.next
				break
			}
		}
	}
	s.next = nil
	if head == nil {
		delete(b.subs, s.key)
	} else {
		b.subs[s.key] = head
	}
}

// Publish implements bus.Bus. Callbacks run under the read lock, which is
// how Close knows that none is running when it returns.
func (b *Bus) Publish(ctx context.Context, deviceID string, m bus.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return bus.ErrClosed
	}
	if m.Kind == bus.KindMail {
		b.mails.Add(1)
	}
	for s := b.subs[deviceID]; s != nil; s = s.next {
		s.fn(m)
	}
	return nil
}

// MailSignals counts the mail signals (KindMail) published, to any
// device, ever; ok is always true. The bus is a single node's only one,
// so a connection that reads MailSignals, reads its device's mailbox,
// subscribes and reads MailSignals again, and sees the same count, knows
// that no mail was signalled between its read and its subscription (to
// nobody, or to an older connection of the device about to be replaced):
// a mailbox it found empty is still empty but for what its subscription
// hears of. The gateway skips the first mailbox read on that ground; a
// busy node, whose count moves all the time, simply reads.
func (b *Bus) MailSignals() (n uint64, ok bool) { return b.mails.Load(), true }

// Subscribed implements bus.Prober.
func (b *Bus) Subscribed(ctx context.Context, deviceID string) (bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false, bus.ErrClosed
	}
	return b.subs[deviceID] != nil, nil
}

// Close implements bus.Bus.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.subs = nil
	return nil
}
