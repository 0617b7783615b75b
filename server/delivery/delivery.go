// Package delivery moves messages between devices: per-device mailboxes
// (sequence numbers, ack, expiry), fan-out of application messages to the
// member devices of an MLS group, and the MLS delivery service that
// accepts exactly one commit per epoch.
//
// Acknowledged means durable: a Send is answered only after its mailbox
// entries are committed. Sends go through a batcher that writes many of
// them in one store transaction (group commit), so durability does not
// cost one disk sync per message. After a write, each recipient device is
// told through the bus that it has mail; its connection then reads the
// mailbox in order. The bus carries wake-ups only, so a lost signal delays
// mail but never loses it.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/server/metrics"
	"github.com/parleyhq/parley/store"
)

// Bounds of the delivery service.
const (
	// DefaultMaxBatch is how many Sends one group commit may carry: large
	// enough to amortize a disk sync, small enough that one transaction
	// stays short.
	DefaultMaxBatch = 256
	// DefaultSweepInterval is how often expired mail is deleted.
	DefaultSweepInterval = time.Hour
	// queueDepth bounds Sends waiting for the batcher across all
	// connections; beyond it, submitters wait (and their connections stop
	// reading), which pushes back on devices instead of growing memory.
	queueDepth = 4096
	// writeTimeout bounds one store write made outside any request's
	// context (a batch, a sweep).
	writeTimeout = 30 * time.Second
)

// Config configures a Service.
type Config struct {
	Store         store.Store
	Bus           bus.Bus
	Metrics       *metrics.Metrics
	Clock         clock.Clock
	Logger        *slog.Logger
	MaxBatch      int           // 0 means DefaultMaxBatch
	SweepInterval time.Duration // 0 means DefaultSweepInterval
	// Channels rules CHANNEL_ADMINS conversations (see ChannelAdmins);
	// nil refuses them.
	Channels ChannelAdmins
}

// ChannelAdmins is what the delivery service asks about the admin
// conversation of a broadcast channel (implemented by server/channels).
type ChannelAdmins interface {
	// CheckAdminGroup returns the channel and the accounts the
	// conversation may hold (the channel's owner and admins now): at
	// creation for channelID, else for the channel whose conversation
	// group is.
	CheckAdminGroup(ctx context.Context, who gateway.Identity, channelID string, group []byte, creating bool) (string, []string, error)
	// AdminGroupCreated records the conversation once its first commit is
	// accepted.
	AdminGroupCreated(ctx context.Context, channelID string, group []byte) error
}

// Service implements Send, Commit, Ack, GetGroup and mailbox reads.
type Service struct {
	st       store.Store
	bus      bus.Bus
	m        *metrics.Metrics
	clock    clock.Clock
	log      *slog.Logger
	maxBatch int
	sweep    time.Duration
	channels ChannelAdmins

	in     chan *submission
	acks   chan *ackReq
	mu     sync.RWMutex // guards closed against sends on in and acks
	closed bool
	stop   chan struct{} // ends the sweeper
	wg     sync.WaitGroup
	// writes is the parent of every store write made outside a request;
	// Stop cancels it when its deadline passes so shutdown stays bounded.
	writes       context.Context
	cancelWrites context.CancelFunc
}

// New validates cfg and returns a Service; Start runs it.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Bus == nil || cfg.Metrics == nil {
		return nil, errors.New("delivery: Store, Bus and Metrics are required")
	}
	if cfg.MaxBatch < 0 || cfg.SweepInterval < 0 {
		return nil, errors.New("delivery: MaxBatch and SweepInterval must not be negative")
	}
	s := &Service{
		st: cfg.Store, bus: cfg.Bus, m: cfg.Metrics, clock: clock.OrReal(cfg.Clock), log: cfg.Logger,
		maxBatch: cmpOr(cfg.MaxBatch, DefaultMaxBatch), sweep: cmpOr(cfg.SweepInterval, DefaultSweepInterval),
		in: make(chan *submission, queueDepth), acks: make(chan *ackReq, ackQueueDepth), stop: make(chan struct{}), channels: cfg.Channels,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.writes, s.cancelWrites = context.WithCancel(context.Background())
	return s, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Start runs the batcher, its answerer and the expiry sweeper until Stop.
// All three start here, so a caller that counts goroutines after Start
// sees every one of them.
func (s *Service) Start() {
	answers := make(chan *written, answerQueue)
	s.wg.Go(func() { s.batcher(answers) })
	s.wg.Go(func() { s.answerer(answers) })
	s.wg.Go(s.sweeper)
}

// Stop refuses new Sends and acks, writes the ones already queued
// (answering their senders) and stops the sweeper. If ctx ends first, the writes in
// progress are canceled (their senders get UNAVAILABLE and resend after
// reconnecting), and Stop returns ctx's error once its goroutines have
// stopped.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.in)
		close(s.acks)
		close(s.stop)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		s.cancelWrites()
		return nil
	case <-ctx.Done():
	}
	s.cancelWrites()
	<-done
	return fmt.Errorf("delivery: stop: %w", ctx.Err())
}

// Fetch reads a device's unexpired mail after a sequence number.
func (s *Service) Fetch(ctx context.Context, deviceID string, after uint64, limit int) ([]store.Mail, error) {
	return s.st.Fetch(ctx, deviceID, after, limit, s.clock.Now())
}

// GetGroup describes a group to one of its members.
func (s *Service) GetGroup(ctx context.Context, who gateway.Identity, g *proto.GetGroup) (*proto.GroupResult, error) {
	grp, err := s.memberGroup(ctx, who, g.GroupId)
	if err != nil {
		return nil, err
	}
	res := &proto.GroupResult{
		GroupId: grp.ID, Epoch: grp.Epoch, Kind: proto.ConversationKind(grp.Kind),
		Accounts: grp.Accounts, Devices: grp.Devices,
	}
	if res.Kind == proto.ConversationKind_CHANNEL_ADMINS && s.channels != nil {
		if res.ChannelId, res.Accounts, err = s.channels.CheckAdminGroup(ctx, who, "", grp.ID, false); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// memberGroup loads a group the caller's device belongs to.
func (s *Service) memberGroup(ctx context.Context, who gateway.Identity, id []byte) (store.Group, error) {
	if err := checkGroupID(id); err != nil {
		return store.Group{}, err
	}
	g, err := s.st.Group(ctx, id)
	if _, cached := s.st.(freshGrouper); cached && (errors.Is(err, store.ErrNotFound) || (err == nil && !slices.Contains(g.Devices, who.DeviceID))) {
		// The cache may predate a commit applied on another node.
		g, err = s.freshGroup(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) {
		return g, proto.Errorf(proto.Code_NOT_FOUND, "no conversation with this group id on this server")
	}
	if err != nil {
		return g, storeErr("group", err)
	}
	if !slices.Contains(g.Devices, who.DeviceID) {
		return g, proto.Errorf(proto.Code_FORBIDDEN, "this device is not a member of the conversation")
	}
	return g, nil
}

// freshGrouper is a store that answers Group from a cache (store/cache)
// and can be asked to read the store instead.
type freshGrouper interface {
	Fresh(ctx context.Context, id []byte) (store.Group, error)
}

// freshGroup reads a group's state past any cache.
func (s *Service) freshGroup(ctx context.Context, id []byte) (store.Group, error) {
	if f, ok := s.st.(freshGrouper); ok {
		return f.Fresh(ctx, id)
	}
	return s.st.Group(ctx, id)
}

// blockedBy reports whether, in a DIRECT conversation, the other account
// blocked the caller's.
func (s *Service) blockedBy(ctx context.Context, who gateway.Identity, kind int32, accounts []string) error {
	if proto.ConversationKind(kind) != proto.ConversationKind_DIRECT {
		return nil
	}
	for _, a := range accounts {
		if a == who.AccountID {
			continue
		}
		blocked, err := s.st.IsBlocked(ctx, a, who.AccountID)
		if err != nil {
			return storeErr("blocked", err)
		}
		if blocked {
			return proto.Errorf(proto.Code_BLOCKED, "the recipient does not accept messages from you")
		}
	}
	return nil
}

// envelope serializes what recipients get.
func (s *Service) envelope(who gateway.Identity, e *proto.Envelope) ([]byte, error) {
	e.SenderAccount, e.SenderDevice, e.SenderHandle = who.AccountID, who.DeviceID, who.Handle
	return gproto.Marshal(e)
}

// notify tells each device the highest seq just written for it. Failure
// only delays delivery until the device's next fetch or reconnect.
//
// A device that got exactly one entry is sent that entry's envelope too,
// so its connection, if it is caught up, pushes it from memory instead of
// reading it back from the mailbox.
func (s *Service) notify(mail []store.Mail) {
	type signal struct {
		seq uint64
		env []byte // nil once the device got more than one entry
	}
	high := make(map[string]signal, len(mail))
	order := make([]string, 0, len(mail))
	for _, m := range mail {
		sig, ok := high[m.DeviceID]
		if !ok {
			order = append(order, m.DeviceID)
			high[m.DeviceID] = signal{seq: m.Seq, env: m.Envelope}
			continue
		}
		high[m.DeviceID] = signal{seq: max(sig.seq, m.Seq)}
	}
	for _, d := range order {
		sig := high[d]
		if err := s.bus.Publish(context.Background(), d, bus.Message{Kind: bus.KindMail, Seq: sig.seq, Envelope: sig.env}); err != nil {
			s.log.Warn("mail signal lost; the device gets it on its next fetch", "device", d, "err", err)
		}
	}
}

func checkGroupID(id []byte) error {
	if len(id) == 0 || len(id) > proto.MaxGroupIDBytes {
		return proto.Errorf(proto.Code_BAD_REQUEST, "group_id must be 1 to %d bytes", proto.MaxGroupIDBytes)
	}
	return nil
}

func checkMessageID(id []byte) error {
	if len(id) != proto.MessageIDBytes {
		return proto.Errorf(proto.Code_BAD_REQUEST, "message_id must be exactly %d random bytes", proto.MessageIDBytes)
	}
	return nil
}

func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &proto.Error{Code: proto.Code_UNAVAILABLE, Message: "storage is unavailable; retry in a moment"}
	}
	return fmt.Errorf("delivery: %s: %w", op, err)
}

// sweeper deletes expired mail and forgets old message ids.
func (s *Service) sweeper() {
	t := s.clock.NewTicker(s.sweep)
	defer t.Stop()
	for {
		s.expire()
		select {
		case <-t.C():
		case <-s.stop:
			return
		}
	}
}

func (s *Service) expire() {
	ctx, cancel := context.WithTimeout(s.writes, writeTimeout)
	defer cancel()
	now := s.clock.Now()
	n, err := s.st.Expire(ctx, now, now.Add(-proto.MailboxTTL))
	if err != nil {
		s.log.Warn("mailbox expiry failed; retrying at the next sweep", "err", err)
		return
	}
	if n > 0 {
		s.m.MailboxExpired.Add(float64(n))
		s.log.Info("expired mailbox entries", "count", n)
	}
}
