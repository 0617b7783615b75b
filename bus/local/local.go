// Package local is the in-process bus: a map from device id to the
// callbacks of the connections in this process. It is what `parley serve`
// uses on a single node.
package local

import (
	"context"
	"sync"

	"github.com/parleyhq/parley/bus"
)

// Bus delivers synchronously, on the publisher's goroutine, so one
// publisher's messages keep their order without a queue.
type Bus struct {
	mu     sync.RWMutex
	subs   map[string][]*subscription // by device id, and channelKey(id) for channel topics
	closed bool
}

type subscription struct{ fn func(bus.Message) }

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
func New() *Bus { return &Bus{subs: make(map[string][]*subscription)} }

// Subscribe implements bus.Bus.
func (b *Bus) Subscribe(deviceID string, fn func(bus.Message)) (func(), error) {
	s := &subscription{fn: fn}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, bus.ErrClosed
	}
	b.subs[deviceID] = append(b.subs[deviceID], s)
	var once sync.Once
	return func() { once.Do(func() { b.remove(deviceID, s) }) }, nil
}

func (b *Bus) remove(deviceID string, s *subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	list := b.subs[deviceID]
	for i, x := range list {
		if x == s {
			// A fresh slice, not an in-place shift, so a slice handed
			// out earlier is never mutated under anyone.
			next := make([]*subscription, 0, len(list)-1)
			next = append(next, list[:i]...)
			next = append(next, list[i+1:]...)
			list = next
			break
		}
	}
	if len(list) == 0 {
		delete(b.subs, deviceID)
	} else {
		b.subs[deviceID] = list
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
	for _, s := range b.subs[deviceID] {
		s.fn(m)
	}
	return nil
}

// Subscribed implements bus.Prober.
func (b *Bus) Subscribed(ctx context.Context, deviceID string) (bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return false, bus.ErrClosed
	}
	return len(b.subs[deviceID]) > 0, nil
}

// Close implements bus.Bus.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.subs = nil
	return nil
}
