// Package nats is the cluster bus: bus.Bus over core NATS, so that the
// nodes of a cluster reach each other's devices. Each device with a
// connection on a node has one NATS subscription on that node, to
// "<prefix>.dev.<device id>"; publishing for a device sends one NATS
// message to that subject, which reaches whichever nodes hold it.
// Channel topics (bus.ChannelRouter) work the same way on
// "<prefix>.chan.<channel id>", one subscription per node and channel.
//
// Why core NATS and not JetStream: mail is made durable in the store
// before it is announced, so the bus only carries wake-ups, ephemeral
// frames and close requests, at most once (see package bus). A stream
// would persist what nobody needs to replay. What the bus must do well is
// stay cheap per connected device and recover from outages, and both are
// handled here:
//
//   - Density: every NATS subscription of a node feeds one shared channel
//     read by one dispatcher goroutine (nats.go's channel subscriptions
//     start no goroutine), so a device costs a map entry and a
//     subscription record, not a goroutine.
//   - Local first: a node delivers to its own subscribers directly, on the
//     publisher's goroutine, and the NATS connection is opened with NoEcho
//     so it does not get its own messages back. Devices on one node keep
//     talking while NATS is down.
//   - Outages: nats.go reconnects forever and restores the subscriptions;
//     messages published while disconnected wait in its reconnect buffer.
//     After a reconnect every local subscriber gets KindMail with Seq 0
//     ("there may be mail"), so a wake-up lost in the outage costs one
//     mailbox read, never mail. If the reconnect buffer overflowed, the
//     node also asks every other node to do the same.
//   - Route settling: in a NATS cluster, a new subscription reaches the
//     other NATS servers asynchronously (routes), so a wake-up published
//     through another server in the first moments could miss it, after
//     the device's connection already read its mailbox. When connected to
//     a clustered server, a fresh device subscription therefore gets one
//     extra KindMail with Seq 0 after routeSettle.
//   - Presence: Subscribed (bus.Prober) sends a probe request to the
//     device's subject; a node holding a subscriber answers it. With no
//     subscriber anywhere the NATS server answers "no responders" at
//     once. A crashed node's subscriptions vanish with its connection, so
//     its devices go offline without a heartbeat to expire.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/parleyhq/parley/bus"
)

// Defaults and bounds.
const (
	// DefaultPrefix starts every subject; clusters sharing one NATS
	// account use different prefixes.
	DefaultPrefix = "parley"
	// inboxDepth bounds messages received from NATS and not yet
	// dispatched. Beyond it nats.go drops messages (a slow consumer);
	// since they are wake-ups, that costs latency, not mail.
	inboxDepth = 1 << 16
	// probeTimeout bounds a presence probe. An answer normally takes one
	// round trip; the bound only matters when a subscriber disappears
	// while the probe is in flight.
	probeTimeout = time.Second
	// flushTimeout bounds the round trip Subscribe makes so that the NATS
	// server knows of the subscription before Subscribe returns.
	flushTimeout = 2 * time.Second
	// connectTimeout bounds the first connection in New.
	connectTimeout = 5 * time.Second
	// reconnectWait is the pause between reconnect attempts (nats.go adds
	// jitter); short, because a node without NATS is a partitioned node.
	reconnectWait = 250 * time.Millisecond
	// reconnectBuffer bounds what waits to be published while NATS is
	// unreachable (about 100,000 wake-ups).
	reconnectBuffer = 8 << 20
	// pingInterval and maxPingsOut detect a dead NATS server that did not
	// close the TCP connection within about 15 seconds.
	pingInterval = 5 * time.Second
	maxPingsOut  = 3
	// probeHeader marks a presence probe on a device subject.
	probeHeader = "Parley-Probe"
	// routeSettle is how long after a device subscribes, on a clustered
	// NATS server, it is woken once more: far beyond route propagation on
	// a healthy network (well under a millisecond to a few).
	routeSettle = 250 * time.Millisecond
	// maxSettling bounds subscriptions waiting for their settle wake-up;
	// beyond it (a connection storm) they go without, which only reopens
	// the small window the wake-up closes.
	maxSettling = 1 << 16
)

// Options configure New. Only URL is required.
type Options struct {
	// URL lists the NATS servers to use, comma-separated
	// ("nats://10.0.0.1:4222,nats://10.0.0.2:4222"). Credentials in the
	// URL are never logged.
	URL string
	// Prefix starts every subject. Zero: DefaultPrefix.
	Prefix string
	// Name names this node's connection in NATS monitoring.
	Name string
	// Logger receives connection state changes. Zero: discard.
	Logger *slog.Logger
}

// Bus is a bus.Bus and bus.Prober over one NATS connection.
type Bus struct {
	nc    *natsgo.Conn
	dev   string // "<prefix>.dev."
	chans string // "<prefix>.chan."
	wake  string // "<prefix>.wake": every node wakes all its subscribers
	log   *slog.Logger
	in    chan *natsgo.Msg

	mu     sync.RWMutex      // callbacks run under the read lock
	subs   map[string]*topic // by NATS subject
	closed bool

	reconnected chan struct{} // capacity 1: a reconnect to handle
	settle      chan settling // fresh device subscriptions, to the dispatcher
	lost        atomic.Bool   // a publish failed while disconnected
	dropped     atomic.Uint64 // messages nats.go dropped: inbox full
	done        chan struct{}
	wg          sync.WaitGroup
	wakeSub     *natsgo.Subscription
}

// topic is the subscribers on this node of one device or channel.
type topic struct {
	sub    *natsgo.Subscription
	fns    []*subscriber // replaced, never modified
	device bool          // a device (woken after outages), not a channel
}

type subscriber struct{ fn func(bus.Message) }

// settling is a fresh device subscription waiting for its settle wake-up.
type settling struct {
	subject string
	due     time.Time
}

var (
	_ bus.Bus           = (*Bus)(nil)
	_ bus.Prober        = (*Bus)(nil)
	_ bus.ChannelRouter = (*Bus)(nil)
)

// New connects to NATS and starts the dispatcher. It fails if no server
// answers within a few seconds, so a misconfigured node does not start.
func New(opts Options) (*Bus, error) {
	if opts.URL == "" {
		return nil, errors.New("bus/nats: no NATS URL")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !validSubject(prefix) {
		return nil, fmt.Errorf("bus/nats: prefix %q: use letters, digits, '-' and '_' separated by dots", prefix)
	}
	b := &Bus{
		dev: prefix + ".dev.", chans: prefix + ".chan.", wake: prefix + ".wake", log: opts.Logger,
		in: make(chan *natsgo.Msg, inboxDepth), subs: make(map[string]*topic),
		reconnected: make(chan struct{}, 1), settle: make(chan settling, 1024), done: make(chan struct{}),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	nc, err := natsgo.Connect(opts.URL,
		natsgo.Name(opts.Name), natsgo.NoEcho(), natsgo.Timeout(connectTimeout),
		natsgo.MaxReconnects(-1), natsgo.ReconnectWait(reconnectWait),
		natsgo.ReconnectBufSize(reconnectBuffer),
		natsgo.PingInterval(pingInterval), natsgo.MaxPingsOutstanding(maxPingsOut),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			b.log.Warn("NATS disconnected; devices on this node are still served, other nodes are unreachable until it reconnects", "err", err)
		}),
		natsgo.ReconnectHandler(func(nc *natsgo.Conn) {
			b.log.Info("NATS reconnected; waking every local device to recheck its mailbox", "server", nc.ConnectedUrlRedacted())
			select {
			case b.reconnected <- struct{}{}:
			default:
			}
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				b.dropped.Add(1)
			}
			b.log.Warn("NATS error", "err", err)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("bus/nats: connect to %s: %w (is nats-server running? see docs/operations.md)", redact(opts.URL), err)
	}
	b.nc = nc
	if b.wakeSub, err = nc.ChanSubscribe(b.wake, b.in); err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus/nats: subscribe %s: %w", b.wake, err)
	}
	b.wg.Go(b.dispatch)
	return b, nil
}

// Dropped is how many messages were dropped because the dispatcher fell
// behind (for metrics and tests).
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Connected reports whether the NATS connection is up.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// Subscribe implements bus.Bus. It returns once the NATS server it is
// connected to knows of the subscription (or after a short bound when
// NATS is unreachable; the subscription is then made on reconnect).
func (b *Bus) Subscribe(deviceID string, fn func(bus.Message)) (func(), error) {
	if !validToken(deviceID) {
		return nil, fmt.Errorf("bus/nats: device id %q cannot be a subject token", deviceID)
	}
	return b.subscribe(b.dev+deviceID, true, fn)
}

// SubscribeChannel implements bus.ChannelRouter, like Subscribe.
func (b *Bus) SubscribeChannel(channelID string, fn func(bus.Message)) (func(), error) {
	if !validToken(channelID) {
		return nil, fmt.Errorf("bus/nats: channel id %q cannot be a subject token", channelID)
	}
	return b.subscribe(b.chans+channelID, false, fn)
}

func (b *Bus) subscribe(subject string, device bool, fn func(bus.Message)) (func(), error) {
	s := &subscriber{fn: fn}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, bus.ErrClosed
	}
	tp := b.subs[subject]
	fresh := tp == nil
	if fresh {
		sub, err := b.nc.ChanSubscribe(subject, b.in)
		if err != nil {
			b.mu.Unlock()
			return nil, fmt.Errorf("bus/nats: subscribe: %w", err)
		}
		tp = &topic{sub: sub, device: device}
		b.subs[subject] = tp
	}
	tp.fns = append(tp.fns[:len(tp.fns):len(tp.fns)], s)
	b.mu.Unlock()
	if fresh && b.nc.IsConnected() {
		// Without this round trip a message published right after
		// Subscribe by another node could reach the server first.
		if err := b.nc.FlushTimeout(flushTimeout); err != nil {
			b.log.Debug("NATS flush after subscribe failed; the subscription is made on reconnect", "err", err)
		}
		if device && b.nc.ConnectedClusterName() != "" {
			select {
			case b.settle <- settling{subject: subject, due: time.Now().Add(routeSettle)}:
			case <-b.done:
			}
		}
	}
	var once sync.Once
	return func() { once.Do(func() { b.remove(subject, s) }) }, nil
}

func (b *Bus) remove(subject string, s *subscriber) {
	b.mu.Lock()
	defer b.mu.Unlock()
	tp := b.subs[subject]
	if tp == nil {
		return // the bus closed meanwhile
	}
	next := make([]*subscriber, 0, len(tp.fns))
	for _, x := range tp.fns {
		if x != s {
			next = append(next, x)
		}
	}
	tp.fns = next
	if len(next) == 0 {
		delete(b.subs, subject)
		if err := tp.sub.Unsubscribe(); err != nil && !errors.Is(err, natsgo.ErrConnectionClosed) {
			b.log.Warn("NATS unsubscribe failed", "subject", subject, "err", err)
		}
	}
}

// Publish implements bus.Bus: it delivers to this node's subscribers at
// once and sends the message to the other nodes through NATS. An error
// means the other nodes will not get it (NATS unreachable for longer than
// the reconnect buffer lasts); this node's subscribers got it anyway.
func (b *Bus) Publish(ctx context.Context, deviceID string, m bus.Message) error {
	if !validToken(deviceID) {
		return fmt.Errorf("bus/nats: device id %q cannot be a subject token", deviceID)
	}
	return b.publish(ctx, b.dev+deviceID, m)
}

// PublishChannel implements bus.ChannelRouter, like Publish.
func (b *Bus) PublishChannel(ctx context.Context, channelID string, m bus.Message) error {
	if !validToken(channelID) {
		return fmt.Errorf("bus/nats: channel id %q cannot be a subject token", channelID)
	}
	return b.publish(ctx, b.chans+channelID, m)
}

func (b *Bus) publish(ctx context.Context, subject string, m bus.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := encode(m)
	if err != nil {
		return err
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return bus.ErrClosed
	}
	if tp := b.subs[subject]; tp != nil {
		for _, s := range tp.fns {
			s.fn(m)
		}
	}
	b.mu.RUnlock()
	if err := b.nc.Publish(subject, data); err != nil {
		if !b.nc.IsConnected() {
			b.lost.Store(true)
		}
		return fmt.Errorf("bus/nats: publish: %w", err)
	}
	return nil
}

// Subscribed implements bus.Prober.
func (b *Bus) Subscribed(ctx context.Context, deviceID string) (bool, error) {
	if !validToken(deviceID) {
		return false, fmt.Errorf("bus/nats: device id %q cannot be a subject token", deviceID)
	}
	return b.probe(ctx, b.dev+deviceID)
}

// ChannelSubscribed reports whether any node has a subscriber of the
// channel's topic (as Subscribed does for a device).
func (b *Bus) ChannelSubscribed(ctx context.Context, channelID string) (bool, error) {
	if !validToken(channelID) {
		return false, fmt.Errorf("bus/nats: channel id %q cannot be a subject token", channelID)
	}
	return b.probe(ctx, b.chans+channelID)
}

// probe asks whether subject has a subscriber on this node or another.
func (b *Bus) probe(ctx context.Context, subject string) (bool, error) {
	b.mu.RLock()
	closed, local := b.closed, b.subs[subject] != nil
	b.mu.RUnlock()
	switch {
	case closed:
		return false, bus.ErrClosed
	case local:
		return true, nil
	case !b.nc.IsConnected():
		return false, errors.New("bus/nats: not connected to NATS; other nodes cannot be asked")
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	msg := natsgo.NewMsg(subject)
	msg.Header.Set(probeHeader, "1")
	_, err := b.nc.RequestMsgWithContext(ctx, msg)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, natsgo.ErrNoResponders):
		return false, nil
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		// A subscriber that left while the probe was on its way does
		// not answer.
		return false, nil
	}
	return false, fmt.Errorf("bus/nats: probe: %w", err)
}

// Close implements bus.Bus: it stops the dispatcher, waits for a running
// callback and closes the NATS connection.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.subs = nil
	b.mu.Unlock()
	close(b.done)
	b.wg.Wait()
	b.nc.Close()
	return nil
}

// dispatch delivers messages from NATS to local subscribers, answers
// presence probes and handles reconnects, in arrival order.
func (b *Bus) dispatch() {
	// Settle wake-ups are due in the order they were queued (one fixed
	// delay), so a FIFO and one timer serve them all.
	var settling []settling
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-b.done:
			return
		case <-b.reconnected:
			if b.lost.Swap(false) {
				// Other nodes may have missed wake-ups from this one.
				if err := b.nc.Publish(b.wake, nil); err != nil {
					b.lost.Store(true)
				}
			}
			b.wakeAll()
		case msg := <-b.in:
			b.deliver(msg)
		case st := <-b.settle:
			if len(settling) >= maxSettling {
				continue
			}
			settling = append(settling, st)
			if len(settling) == 1 {
				timer.Reset(time.Until(st.due))
			}
		case <-timer.C:
			now := time.Now()
			n := 0
			for n < len(settling) && !settling[n].due.After(now) {
				b.wakeSubject(settling[n].subject)
				n++
			}
			settling = append(settling[:0], settling[n:]...)
			if len(settling) > 0 {
				timer.Reset(time.Until(settling[0].due))
			}
		}
	}
}

func (b *Bus) deliver(msg *natsgo.Msg) {
	if msg.Subject == b.wake {
		b.wakeAll()
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	tp := b.subs[msg.Subject]
	if msg.Reply != "" && msg.Header.Get(probeHeader) != "" {
		if tp != nil {
			if err := msg.Respond(nil); err != nil {
				b.log.Debug("presence probe answer failed", "err", err)
			}
		}
		return
	}
	if tp == nil {
		return
	}
	m, err := decode(msg.Data)
	if err != nil {
		b.log.Warn("dropping a malformed bus message; is another program publishing on parley subjects?", "subject", msg.Subject, "bytes", len(msg.Data))
		return
	}
	for _, s := range tp.fns {
		s.fn(m)
	}
}

// wakeSubject tells a device's local subscribers to recheck its mailbox.
func (b *Bus) wakeSubject(subject string) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if tp := b.subs[subject]; tp != nil {
		for _, s := range tp.fns {
			s.fn(bus.Message{Kind: bus.KindMail})
		}
	}
}

// wakeAll tells every local device subscriber to recheck its mailbox.
// Channel subscribers are not told: followers catch up by syncing.
func (b *Bus) wakeAll() {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, tp := range b.subs {
		if !tp.device {
			continue
		}
		for _, s := range tp.fns {
			s.fn(bus.Message{Kind: bus.KindMail})
		}
	}
}

// validToken reports whether s can be one token of a NATS subject.
func validToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// validSubject reports whether s is dot-separated valid tokens.
func validSubject(s string) bool {
	for _, t := range strings.Split(s, ".") {
		if !validToken(t) {
			return false
		}
	}
	return true
}

// redact hides passwords and tokens in a NATS URL list.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if k := strings.Index(p, "://"); k >= 0 && k < at {
				scheme = p[:k+3]
			}
			parts[i] = scheme + "xxxxx@" + p[at+1:]
		}
	}
	return strings.Join(parts, ",")
}
