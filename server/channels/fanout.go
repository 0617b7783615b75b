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
	"github.com/parleyhq/parley/server/gateway"
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
//
// Memory: an idle connection costs one small record (sub) and, for the
// first connection of an account, one map entry; an account in no channel
// keeps nothing else. Connections whose account is known when they
// subscribe (SubscribeAccount, the gateway's authenticated connections)
// skip the store read of the device, and a connection of an account
// already loaded skips the resolver altogether.
type Fanout struct {
	bus.Bus
	router bus.ChannelRouter // nil: only this node's followers hear of posts made here
	st     store.Store
	log    *slog.Logger

	mu sync.Mutex
	// accounts lists the connections here of each account, by account
	// id; unknown those whose account is not known yet (a plain
	// Subscribe, or a device waiting to be linked), by device id.
	accounts map[string]*sub
	unknown  map[string]*sub
	// epoch counts membership changes through this node (Refresh,
	// Forget): a handshake's "in no channel" read (gateway.ChannelHint)
	// is trusted only if none came between it and the subscription.
	epoch    atomic.Uint64              // changed under mu, read without it
	channels map[string]map[string]bool // account id → channels it is in the index of (accounts in none: no entry)
	topics   map[string]*topic          // channel id → members here
	// reads are the store reads of memberships in flight, by account: a
	// change of the account's memberships meanwhile marks them stale and
	// the reader reads again, so an older answer never overwrites what a
	// later change put in the index.
	reads    map[string][]*read
	resolve  chan *sub
	events   chan event
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	dropped   atomic.Uint64
	delivered atomic.Uint64
}

// sub is one connection's subscription, in a list of its account's (or,
// account unknown, its device's) connections. Fields other than the
// constant f, device and fn are guarded by Fanout.mu.
type sub struct {
	f       *Fanout
	device  string
	account string // "" while unknown
	fn      func(bus.Message)
	unsub   func() // the wrapped bus's
	next    *sub
	indexed bool // the device is in the index: its account's memberships are loaded
	gone    bool
}

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
		accounts: map[string]*sub{}, unknown: map[string]*sub{},
		channels: map[string]map[string]bool{}, topics: map[string]*topic{}, reads: map[string][]*read{},
		resolve: make(chan *sub, resolveQueue), events: make(chan event, eventQueue), stop: make(chan struct{}),
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
// device in the channel index once the resolver has read its account.
func (f *Fanout) Subscribe(deviceID string, fn func(bus.Message)) (func(), error) {
	return f.SubscribeAccount(deviceID, "", gateway.ChannelHint{}, fn)
}

// MailSignals forwards the wrapped bus's count of mail signals
// (bus/local's MailSignals); ok is false for a bus that does not count
// them (a network bus, whose publishers are on other nodes too).
func (f *Fanout) MailSignals() (n uint64, ok bool) {
	if m, is := f.Bus.(gateway.MailCounter); is {
		return m.MailSignals()
	}
	return 0, false
}

// ChannelEpoch counts the membership changes made through this node (for
// gateway.ChannelHint).
func (f *Fanout) ChannelEpoch() uint64 { return f.epoch.Load() }

// SubscribeAccount is Subscribe for a device known to belong to accountID
// (an authenticated connection; "" if not known): the index needs no
// store read to find the account, and none at all when another
// connection here already loaded the account's memberships, or when the
// handshake read the account to be in no channel (hint.None) and no
// membership changed through this node since (hint.Epoch).
func (f *Fanout) SubscribeAccount(deviceID, accountID string, hint gateway.ChannelHint, fn func(bus.Message)) (func(), error) {
	unsub, err := f.Bus.Subscribe(deviceID, fn)
	if err != nil {
		return nil, err
	}
	s := &sub{f: f, device: deviceID, account: accountID, fn: fn, unsub: unsub}
	f.mu.Lock()
	if accountID == "" {
		s.next = f.unknown[deviceID]
		f.unknown[deviceID] = s
	} else {
		s.indexed = f.loadedLocked(accountID) || hint.None && hint.Epoch == f.epoch.Load()
		s.next = f.accounts[accountID]
		f.accounts[accountID] = s
	}
	queue := !s.indexed
	f.mu.Unlock()
	if queue {
		select {
		case f.resolve <- s:
		default:
			f.log.Warn("channel index queue full: the device gets no live channel events until its first channel request", "device", deviceID)
		}
	}
	return s.cancel, nil
}

// cancel ends the subscription (the unsubscribe function handed out).
func (s *sub) cancel() {
	f := s.f
	f.mu.Lock()
	if s.gone {
		f.mu.Unlock()
		return
	}
	s.gone = true
	f.unlinkLocked(s)
	f.mu.Unlock()
	s.unsub()
}

// unlinkLocked takes s out of its list; when the account has no indexed
// connection left here, it leaves the index.
func (f *Fanout) unlinkLocked(s *sub) {
	lists, key := f.accounts, s.account
	if key == "" {
		lists, key = f.unknown, s.device
	}
	head := lists[key]
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
		delete(lists, key)
	} else {
		lists[key] = head
	}
	if s.account == "" || !s.indexed || f.loadedLocked(s.account) {
		return
	}
	for ch := range f.channels[s.account] {
		f.dropMemberLocked(ch, s.account)
	}
	delete(f.channels, s.account)
}

// loadedLocked reports whether the account's memberships are in the
// index: some connection of it here is indexed.
func (f *Fanout) loadedLocked(accountID string) bool {
	for s := f.accounts[accountID]; s != nil; s = s.next {
		if s.indexed {
			return true
		}
	}
	return false
}

// connectedLocked reports whether the device has a connection here that
// belongs to accountID, first moving connections of the device whose
// account was not known to it.
func (f *Fanout) connectedLocked(deviceID, accountID string) bool {
	for s := f.unknown[deviceID]; s != nil; {
		next := s.next
		s.account, s.next = accountID, f.accounts[accountID]
		f.accounts[accountID] = s
		s = next
	}
	delete(f.unknown, deviceID)
	for s := f.accounts[accountID]; s != nil; s = s.next {
		if s.device == deviceID {
			return true
		}
	}
	return false
}

// indexedLocked reports whether the device's connections of accountID
// are indexed.
func (f *Fanout) indexedLocked(deviceID, accountID string) bool {
	for s := f.accounts[accountID]; s != nil; s = s.next {
		if s.device == deviceID && s.indexed {
			return true
		}
	}
	return false
}

// resolver loads the account and channels of newly connected devices.
func (f *Fanout) resolver() {
	for {
		select {
		case <-f.stop:
			return
		case s := <-f.resolve:
			f.lookup(s)
		}
	}
}

// lookup indexes a newly connected device, unless it left or was indexed
// meanwhile (by Resolve, or another connection of its account).
func (f *Fanout) lookup(s *sub) {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	f.mu.Lock()
	skip, accountID := s.gone || s.indexed, s.account
	f.mu.Unlock()
	if skip {
		return
	}
	if accountID == "" {
		d, err := f.st.Device(ctx, s.device)
		if errors.Is(err, store.ErrNotFound) {
			return // a device waiting to be linked (the gateway subscribes it again once approved)
		}
		if err != nil {
			f.log.Warn("channel index: device not read", "device", s.device, "err", err)
			return
		}
		accountID = d.AccountID
	}
	if err := f.index(ctx, s.device, accountID); err != nil {
		f.log.Warn("channel index: memberships not read", "account", accountID, "err", err)
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
	if !f.connectedLocked(deviceID, accountID) || f.indexedLocked(deviceID, accountID) {
		return nil
	}
	var ms []store.Membership
	if !f.loadedLocked(accountID) {
		// A change committed before a read is in its answer; one
		// committed after calls Refresh, which marks the read stale.
		if err := f.readLocked(accountID, "", func() (err error) {
			ms, err = f.st.Memberships(ctx, accountID)
			return err
		}); err != nil {
			return err
		}
	}
	if !f.connectedLocked(deviceID, accountID) || f.indexedLocked(deviceID, accountID) {
		return nil // indexed or gone meanwhile
	}
	loaded := f.loadedLocked(accountID) // by another device meanwhile
	for s := f.accounts[accountID]; s != nil; s = s.next {
		if s.device == deviceID {
			s.indexed = true
		}
	}
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
	f.epoch.Add(1)
	f.staleLocked(accountID, channelID)
	if !f.loadedLocked(accountID) {
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
	if !f.loadedLocked(accountID) {
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
	f.epoch.Add(1)
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
		for s := f.accounts[acc]; s != nil; s = s.next {
			if s.indexed {
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
	for _, head := range f.accounts {
		for s := head; s != nil; s = s.next {
			if s.device == deviceID && s.indexed {
				return true
			}
		}
	}
	return false
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
