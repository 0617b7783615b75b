package channels

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// Bounds of the fan-out.
const (
	// resolveQueue bounds devices waiting to have their channels looked
	// up after connecting; beyond it a device gets no live channel events
	// until it reconnects (it still syncs).
	resolveQueue = 16384
	// eventQueue bounds channel events waiting to be fanned out; beyond
	// it an event is dropped (followers still sync).
	eventQueue = 4096
	// lookupTimeout bounds the store reads of one lookup.
	lookupTimeout = 10 * time.Second
)

// Fanout tells a node's connected followers (and owners and admins) that
// a channel changed. It is the bus the gateway is given: it wraps the
// node's bus, so every device subscription (a connection authenticating)
// and unsubscription (it closing) keeps an index of which connected
// device follows which channel. The node subscribes once per channel
// with local followers to the channel's bus topic (bus.ChannelRouter),
// so one publication reaches every node, and each node fans out to its
// own connections: the cost of a post is one message per node plus one
// queue push per connected follower, never a store query per follower.
//
// The index of an account is loaded when its first device connects (by
// the resolver, in the background) and at the latest before that device's
// first channel request is answered (Resolve), and updated when the
// account follows, unfollows, mutes or changes role through this node; a change made through another node reaches this
// node's index when the device reconnects (until then it may get an
// event too many or too few; ChannelSync is the source of truth).
type Fanout struct {
	bus.Bus
	router bus.ChannelRouter // nil: only this node's followers hear of posts made here
	st     store.Store
	log    *slog.Logger

	mu       sync.Mutex
	subs     map[string][]*devSub       // device id → its connections' callbacks
	account  map[string]string          // device id → account id, once resolved
	devices  map[string]map[string]bool // account id → its resolved devices here
	channels map[string]map[string]bool // account id → channels it is in the index of
	topics   map[string]*topic          // channel id → members here
	// reads are the store reads of memberships in flight, by account: a
	// change of the account's memberships meanwhile marks them stale and
	// the reader reads again, so an older answer never overwrites what a
	// later change put in the index.
	reads    map[string][]*read
	resolve  chan string
	events   chan event
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	dropped   atomic.Uint64
	delivered atomic.Uint64
}

type devSub struct{ fn func(bus.Message) }

type topic struct {
	members map[string]member // account id → how it hears
	unsub   func()
}

type member struct{ admin, muted bool }

// read is one store read of an account's memberships in flight: of every
// channel (channel "") or of one.
type read struct {
	channel string
	stale   bool
}

// maxReads bounds how often one index update reads again because the
// account changed meanwhile; past it the last answer is used (and logged).
const maxReads = 4

type event struct {
	channel string
	frame   []byte
	admin   bool
}

var _ bus.Bus = (*Fanout)(nil)

// NewFanout wraps b. Start runs it; Stop ends it.
func NewFanout(b bus.Bus, st store.Store, log *slog.Logger) *Fanout {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, _ := b.(bus.ChannelRouter)
	return &Fanout{
		Bus: b, router: r, st: st, log: log,
		subs: map[string][]*devSub{}, account: map[string]string{}, devices: map[string]map[string]bool{},
		channels: map[string]map[string]bool{}, topics: map[string]*topic{}, reads: map[string][]*read{},
		resolve: make(chan string, resolveQueue), events: make(chan event, eventQueue), stop: make(chan struct{}),
	}
}

// Start runs the lookup and fan-out goroutines until Stop.
func (f *Fanout) Start() {
	f.wg.Go(f.resolver)
	f.wg.Go(f.dispatcher)
}

// Stop ends the goroutines and drops the channel subscriptions. Device
// subscriptions are the gateway's and end with its connections.
func (f *Fanout) Stop() {
	f.stopOnce.Do(func() { close(f.stop) })
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, t := range f.topics {
		if t.unsub != nil {
			t.unsub()
		}
		delete(f.topics, id)
	}
}

// Dropped and Delivered count events (for metrics and benchmarks).
func (f *Fanout) Dropped() uint64   { return f.dropped.Load() }
func (f *Fanout) Delivered() uint64 { return f.delivered.Load() }

// Subscribe implements bus.Bus: the connection's subscription, plus the
// device in the channel index.
func (f *Fanout) Subscribe(deviceID string, fn func(bus.Message)) (func(), error) {
	unsub, err := f.Bus.Subscribe(deviceID, fn)
	if err != nil {
		return nil, err
	}
	s := &devSub{fn: fn}
	f.mu.Lock()
	f.subs[deviceID] = append(f.subs[deviceID], s)
	f.mu.Unlock()
	select {
	case f.resolve <- deviceID:
	default:
		f.log.Warn("channel index queue full: the device gets no live channel events until its first channel request", "device", deviceID)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			unsub()
			f.remove(deviceID, s)
		})
	}, nil
}

func (f *Fanout) remove(deviceID string, s *devSub) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list := f.subs[deviceID]
	for i, x := range list {
		if x == s {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) > 0 {
		f.subs[deviceID] = list
		return
	}
	delete(f.subs, deviceID)
	acc, ok := f.account[deviceID]
	if !ok {
		return
	}
	delete(f.account, deviceID)
	delete(f.devices[acc], deviceID)
	if len(f.devices[acc]) > 0 {
		return
	}
	delete(f.devices, acc)
	for ch := range f.channels[acc] {
		f.dropMemberLocked(ch, acc)
	}
	delete(f.channels, acc)
}

// resolver loads the account and channels of newly connected devices.
func (f *Fanout) resolver() {
	for {
		select {
		case <-f.stop:
			return
		case id := <-f.resolve:
			f.lookup(id)
		}
	}
}

// lookup indexes a newly connected device, unless it left or was indexed
// meanwhile (by Resolve).
func (f *Fanout) lookup(deviceID string) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	f.mu.Lock()
	connected := len(f.subs[deviceID]) > 0
	_, known := f.account[deviceID]
	f.mu.Unlock()
	if !connected || known {
		return
	}
	d, err := f.st.Device(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return // a device waiting to be linked (the gateway subscribes it again once approved)
	}
	if err != nil {
		f.log.Warn("channel index: device not read", "device", deviceID, "err", err)
		return
	}
	if err := f.index(ctx, deviceID, d.AccountID); err != nil {
		f.log.Warn("channel index: memberships not read", "account", d.AccountID, "err", err)
	}
}

// Resolve makes sure a device connected to this node is in the index,
// reading its account's memberships now if the resolver has not yet. The
// channel service calls it before answering any channel request, so once
// a device's request is answered (its first ChannelSync after connecting,
// a Follow) every later event of its channels reaches it: the resolver's
// lag after a connect can no longer fall between a sync and a post. A
// store error is logged; the resolver still indexes the device later.
func (f *Fanout) Resolve(ctx context.Context, deviceID, accountID string) {
	if err := f.index(ctx, deviceID, accountID); err != nil && ctx.Err() == nil {
		f.log.Warn("channel index: memberships not read", "account", accountID, "err", err)
	}
}

// index adds a connected device of accountID to the index, loading the
// account's memberships unless another of its devices here already did.
func (f *Fanout) index(ctx context.Context, deviceID, accountID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, known := f.account[deviceID]; known || len(f.subs[deviceID]) == 0 {
		return nil
	}
	var ms []store.Membership
	if len(f.devices[accountID]) == 0 {
		// A change committed before a read is in its answer; one
		// committed after calls Refresh, which marks the read stale.
		if err := f.readLocked(accountID, "", func() (err error) {
			ms, err = f.st.Memberships(ctx, accountID)
			return err
		}); err != nil {
			return err
		}
	}
	if _, known := f.account[deviceID]; known || len(f.subs[deviceID]) == 0 {
		return nil // indexed or gone meanwhile
	}
	loaded := len(f.devices[accountID]) > 0 // by another device meanwhile
	f.account[deviceID] = accountID
	if f.devices[accountID] == nil {
		f.devices[accountID] = map[string]bool{}
	}
	f.devices[accountID][deviceID] = true
	if !loaded {
		for _, m := range ms {
			f.setMemberLocked(m)
		}
	}
	return nil
}

// readLocked runs fn, a store read of the account's memberships (of
// channel, or all for ""), without the lock, and again while a change of
// them made meanwhile marks it stale (at most maxReads times). It is
// called and returns with f.mu held.
func (f *Fanout) readLocked(accountID, channel string, fn func() error) error {
	r := &read{channel: channel}
	f.reads[accountID] = append(f.reads[accountID], r)
	defer f.endReadLocked(accountID, r)
	for attempt := 1; ; attempt++ {
		r.stale = false
		f.mu.Unlock()
		err := fn()
		f.mu.Lock()
		if err != nil || !r.stale {
			return err
		}
		if attempt == maxReads {
			f.log.Warn("channel index: memberships kept changing while read; using the last answer", "account", accountID)
			return nil
		}
	}
}

func (f *Fanout) endReadLocked(accountID string, r *read) {
	rs := f.reads[accountID]
	for i, x := range rs {
		if x == r {
			rs = append(rs[:i:i], rs[i+1:]...)
			break
		}
	}
	if len(rs) == 0 {
		delete(f.reads, accountID)
	} else {
		f.reads[accountID] = rs
	}
}

// staleLocked marks the account's reads in flight that cover channel
// ("" : any) stale.
func (f *Fanout) staleLocked(accountID, channel string) {
	for _, r := range f.reads[accountID] {
		if r.channel == "" || channel == "" || r.channel == channel {
			r.stale = true
		}
	}
}

// memberOf is how a membership hears of a channel; false when not at all.
func memberOf(m store.Membership) (member, bool) {
	admin := m.Role == store.RoleOwner || m.Role == store.RoleAdmin
	if !admin && !m.Following {
		return member{}, false
	}
	return member{admin: admin, muted: m.Following && m.Muted && !admin}, true
}

func (f *Fanout) setMemberLocked(m store.Membership) {
	mem, ok := memberOf(m)
	if !ok {
		f.dropMemberLocked(m.ChannelID, m.AccountID)
		return
	}
	t := f.topics[m.ChannelID]
	if t == nil {
		t = &topic{members: map[string]member{}}
		if f.router != nil {
			ch := m.ChannelID
			unsub, err := f.router.SubscribeChannel(ch, func(msg bus.Message) { f.received(ch, msg) })
			if err != nil {
				f.log.Warn("channel topic not subscribed: followers here get no live events", "channel", ch, "err", err)
			}
			t.unsub = unsub
		}
		f.topics[m.ChannelID] = t
	}
	t.members[m.AccountID] = mem
	if f.channels[m.AccountID] == nil {
		f.channels[m.AccountID] = map[string]bool{}
	}
	f.channels[m.AccountID][m.ChannelID] = true
}

func (f *Fanout) dropMemberLocked(ch, account string) {
	if cs := f.channels[account]; cs != nil {
		delete(cs, ch)
	}
	t := f.topics[ch]
	if t == nil {
		return
	}
	delete(t.members, account)
	if len(t.members) == 0 {
		if t.unsub != nil {
			t.unsub()
		}
		delete(f.topics, ch)
	}
}

// Joined updates the index after the account joined a channel (created,
// followed, became an admin) through this node.
func (f *Fanout) Joined(ctx context.Context, accountID, channelID string) {
	f.Refresh(ctx, accountID, channelID)
}

// Refresh reloads the account's membership of the channel, if the account
// has devices connected here. Call it after the change is committed.
func (f *Fanout) Refresh(ctx context.Context, accountID, channelID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staleLocked(accountID, channelID)
	if len(f.devices[accountID]) == 0 {
		return // a load in flight (marked stale) reads it
	}
	var m store.Membership
	err := f.readLocked(accountID, channelID, func() (err error) {
		m, err = f.st.Membership(ctx, channelID, accountID)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.log.Warn("channel index: membership not read", "account", accountID, "err", err)
		return
	}
	if len(f.devices[accountID]) == 0 {
		return // gone meanwhile
	}
	if errors.Is(err, store.ErrNotFound) {
		f.dropMemberLocked(channelID, accountID) // the channel is gone
		return
	}
	f.setMemberLocked(m)
}

// Forget drops a deleted channel from the index. Call it after the
// deletion is committed.
func (f *Fanout) Forget(channelID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for acc := range f.reads {
		f.staleLocked(acc, channelID)
	}
	t := f.topics[channelID]
	if t == nil {
		return
	}
	for acc := range t.members {
		if cs := f.channels[acc]; cs != nil {
			delete(cs, channelID)
		}
	}
	if t.unsub != nil {
		t.unsub()
	}
	delete(f.topics, channelID)
}

// PublishChannelEvent routes a channel event frame to every node (or, without a
// channel router, to this node's followers).
func (f *Fanout) PublishChannelEvent(ctx context.Context, channelID string, frame []byte) {
	if f.router != nil {
		if err := f.router.PublishChannel(ctx, channelID, bus.Message{Kind: bus.KindFrame, Frame: frame}); err != nil {
			f.log.Warn("channel event not published; followers will sync", "channel", channelID, "err", err)
		}
		return
	}
	f.received(channelID, bus.Message{Kind: bus.KindFrame, Frame: frame})
}

// received queues an event from the channel topic. It runs on the bus's
// goroutine, so it only decodes the admin flag and queues.
func (f *Fanout) received(channelID string, m bus.Message) {
	if m.Kind != bus.KindFrame {
		return
	}
	var fr proto.Frame
	if err := gproto.Unmarshal(m.Frame, &fr); err != nil {
		f.log.Warn("malformed channel event dropped", "channel", channelID, "err", err)
		return
	}
	admin := fr.GetEvent().GetChannelUpdated().GetAdmin()
	select {
	case f.events <- event{channel: channelID, frame: m.Frame, admin: admin}:
	default:
		f.dropped.Add(1)
	}
}

// dispatcher fans events out to the connections, in order.
func (f *Fanout) dispatcher() {
	var fns []func(bus.Message)
	for {
		select {
		case <-f.stop:
			return
		case ev := <-f.events:
			fns = f.recipients(ev, fns[:0])
			msg := bus.Message{Kind: bus.KindFrame, Frame: ev.frame}
			for _, fn := range fns {
				fn(msg)
			}
			f.delivered.Add(uint64(len(fns)))
		}
	}
}

// recipients snapshots the callbacks an event goes to: admin events to
// the team only, others to everyone who has not muted the channel.
func (f *Fanout) recipients(ev event, out []func(bus.Message)) []func(bus.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.topics[ev.channel]
	if t == nil {
		return out
	}
	for acc, m := range t.members {
		if ev.admin && !m.admin || !ev.admin && m.muted {
			continue
		}
		for dev := range f.devices[acc] {
			for _, s := range f.subs[dev] {
				out = append(out, s.fn)
			}
		}
	}
	return out
}

// Indexed reports whether a device connected here is in the index (for
// tests).
func (f *Fanout) Indexed(deviceID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.account[deviceID]
	return ok
}

// Members is the number of accounts the node's index holds for a channel
// (for tests and benchmarks).
func (f *Fanout) Members(channelID string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.topics[channelID]; t != nil {
		return len(t.members)
	}
	return 0
}
