// Package channels serves broadcast channels: creation and signed info,
// the admin team and the channel's key chain, posts (drafts, schedule,
// review, edits, deletion, 30-day expiry), followers, reactions, polls,
// stats, the directory, reports and media tokens. The rules of what is
// valid are package channel's (shared with the clients); this package
// applies them to the store and answers with coded errors.
//
// Privacy: no response names a follower, a reacting or voting account; a
// follower's responses never name an admin (posts carry only the channel
// key's signature). Only ChannelAdmins, answered to the owner and admins,
// names accounts.
//
// Followers are told of new posts by a light ChannelUpdated event through
// the Fanout (see fanout.go); they read posts with ChannelSync.
package channels

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// Defaults of the background jobs.
const (
	// DefaultScheduleInterval is how often scheduled posts due are
	// published: the lateness of a scheduled post is at most this.
	DefaultScheduleInterval = time.Second
	// DefaultSweepInterval is how often expired posts and media go.
	DefaultSweepInterval = 10 * time.Minute
	// publishBatch bounds the scheduled posts published per tick.
	publishBatch = 500
	// jobTimeout bounds one job's store work.
	jobTimeout = time.Minute
	// maxDirectoryWords bounds the words of a directory query.
	maxDirectoryWords = 8
	// defaultStatsDays is the growth window when a request asks none.
	defaultStatsDays = 30
)

// MediaDeleter removes files of the media store.
type MediaDeleter interface {
	Delete(ctx context.Context, hash string) error
}

// Config configures a Service.
type Config struct {
	Store  store.Store
	Bus    bus.Bus // the node's bus (not the Fanout)
	Fanout *Fanout
	// Media deletes the files of expired or deleted media; nil keeps them.
	Media            MediaDeleter
	Clock            clock.Clock
	Logger           *slog.Logger
	Rand             io.Reader     // invite codes; nil means crypto/rand
	ScheduleInterval time.Duration // 0: DefaultScheduleInterval
	SweepInterval    time.Duration // 0: DefaultSweepInterval
}

// Service implements the channel requests.
type Service struct {
	st    store.Store
	bus   bus.Bus
	fan   *Fanout
	media MediaDeleter
	clock clock.Clock
	log   *slog.Logger
	rand  io.Reader
	tok   *Tokens

	schedule, sweep time.Duration
	stop            chan struct{}
	stopOnce        sync.Once
	wg              sync.WaitGroup
}

// New validates cfg and returns the Service; Start runs its jobs.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Bus == nil || cfg.Fanout == nil {
		return nil, errors.New("channels: Store, Bus and Fanout are required")
	}
	s := &Service{
		st: cfg.Store, bus: cfg.Bus, fan: cfg.Fanout, media: cfg.Media, clock: clock.OrReal(cfg.Clock), log: cfg.Logger,
		rand: cfg.Rand, schedule: cfg.ScheduleInterval, sweep: cfg.SweepInterval, stop: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.schedule <= 0 {
		s.schedule = DefaultScheduleInterval
	}
	if s.sweep <= 0 {
		s.sweep = DefaultSweepInterval
	}
	tok, err := NewTokens(ctx, cfg.Store, s.rand)
	if err != nil {
		return nil, err
	}
	s.tok = tok
	return s, nil
}

// Tokens returns the media token checker (for the media HTTP handler).
func (s *Service) Tokens() *Tokens { return s.tok }

// Serve answers a channel request; false if req is not one. The
// requesting device is in the node's fan-out index before its request is
// handled (see Fanout.Resolve).
func (s *Service) Serve(ctx context.Context, who gateway.Identity, req *proto.Request) (*proto.Response, bool) {
	run := s.handler(who, req)
	if run == nil {
		return nil, false
	}
	s.fan.Resolve(ctx, who.DeviceID, who.AccountID)
	body, err := run(ctx)
	return s.response(err, body), true
}

// handler is the method answering req, nil if req is not a channel
// request.
func (s *Service) handler(who gateway.Identity, req *proto.Request) func(context.Context) (any, error) {
	switch b := req.Body.(type) {
	case *proto.Request_ChannelCreate:
		return func(ctx context.Context) (any, error) { return s.Create(ctx, who, b.ChannelCreate) }
	case *proto.Request_ChannelUpdate:
		return func(ctx context.Context) (any, error) { return s.Update(ctx, who, b.ChannelUpdate) }
	case *proto.Request_ChannelGet:
		return func(ctx context.Context) (any, error) { return s.Get(ctx, who, b.ChannelGet) }
	case *proto.Request_ChannelDelete:
		return func(ctx context.Context) (any, error) { return nil, s.Delete(ctx, who, b.ChannelDelete) }
	case *proto.Request_ChannelLink:
		return func(ctx context.Context) (any, error) { return s.Link(ctx, who, b.ChannelLink) }
	case *proto.Request_ChannelInviteAdmin:
		return func(ctx context.Context) (any, error) { return s.InviteAdmin(ctx, who, b.ChannelInviteAdmin) }
	case *proto.Request_ChannelAcceptAdmin:
		return func(ctx context.Context) (any, error) { return s.AcceptAdmin(ctx, who, b.ChannelAcceptAdmin) }
	case *proto.Request_ChannelRemoveAdmin:
		return func(ctx context.Context) (any, error) { return nil, s.RemoveAdmin(ctx, who, b.ChannelRemoveAdmin) }
	case *proto.Request_ChannelTransfer:
		return func(ctx context.Context) (any, error) { return nil, s.Transfer(ctx, who, b.ChannelTransfer) }
	case *proto.Request_ChannelRotateKey:
		return func(ctx context.Context) (any, error) { return nil, s.RotateKey(ctx, who, b.ChannelRotateKey) }
	case *proto.Request_ChannelAdmins:
		return func(ctx context.Context) (any, error) { return s.Admins(ctx, who, b.ChannelAdmins) }
	case *proto.Request_ChannelInvitations:
		return func(ctx context.Context) (any, error) { return s.Invitations(ctx, who) }
	case *proto.Request_ChannelPublish:
		return func(ctx context.Context) (any, error) { return s.Publish(ctx, who, b.ChannelPublish) }
	case *proto.Request_ChannelEditPost:
		return func(ctx context.Context) (any, error) { return s.EditPost(ctx, who, b.ChannelEditPost) }
	case *proto.Request_ChannelDeletePost:
		return func(ctx context.Context) (any, error) { return nil, s.DeletePost(ctx, who, b.ChannelDeletePost) }
	case *proto.Request_ChannelApprove:
		return func(ctx context.Context) (any, error) { return s.Approve(ctx, who, b.ChannelApprove) }
	case *proto.Request_ChannelDrafts:
		return func(ctx context.Context) (any, error) { return s.Drafts(ctx, who, b.ChannelDrafts) }
	case *proto.Request_ChannelSync:
		return func(ctx context.Context) (any, error) { return s.Sync(ctx, who, b.ChannelSync) }
	case *proto.Request_ChannelGetPosts:
		return func(ctx context.Context) (any, error) { return s.GetPosts(ctx, who, b.ChannelGetPosts) }
	case *proto.Request_ChannelFollow:
		return func(ctx context.Context) (any, error) { return s.Follow(ctx, who, b.ChannelFollow) }
	case *proto.Request_ChannelUnfollow:
		return func(ctx context.Context) (any, error) { return nil, s.Unfollow(ctx, who, b.ChannelUnfollow) }
	case *proto.Request_ChannelMute:
		return func(ctx context.Context) (any, error) { return nil, s.Mute(ctx, who, b.ChannelMute) }
	case *proto.Request_ChannelList:
		return func(ctx context.Context) (any, error) { return s.List(ctx, who) }
	case *proto.Request_ChannelReact:
		return func(ctx context.Context) (any, error) { return s.React(ctx, who, b.ChannelReact) }
	case *proto.Request_ChannelVote:
		return func(ctx context.Context) (any, error) { return s.Vote(ctx, who, b.ChannelVote) }
	case *proto.Request_ChannelView:
		return func(ctx context.Context) (any, error) { return nil, s.View(ctx, who, b.ChannelView) }
	case *proto.Request_ChannelStats:
		return func(ctx context.Context) (any, error) { return s.Stats(ctx, who, b.ChannelStats) }
	case *proto.Request_ChannelDirectory:
		return func(ctx context.Context) (any, error) { return s.Directory(ctx, who, b.ChannelDirectory) }
	case *proto.Request_ChannelReport:
		return func(ctx context.Context) (any, error) { return nil, s.Report(ctx, who, b.ChannelReport) }
	case *proto.Request_MediaToken:
		return func(ctx context.Context) (any, error) { return s.MediaToken(ctx, who, b.MediaToken) }
	}
	return nil
}

// response builds the Response: a coded error's message reaches the
// device; anything else is logged and answered INTERNAL (UNAVAILABLE for
// a store that is down).
func (s *Service) response(err error, body any) *proto.Response {
	if err != nil {
		var pe *proto.Error
		if errors.As(err, &pe) {
			return &proto.Response{Code: pe.Code, Message: pe.Message}
		}
		if errors.Is(err, store.ErrUnavailable) {
			return &proto.Response{Code: proto.Code_UNAVAILABLE, Message: "storage is unavailable; retry"}
		}
		s.log.Error("channel request failed", "err", err)
		return &proto.Response{Code: proto.Code_INTERNAL, Message: "internal server error; it has been logged"}
	}
	resp := &proto.Response{}
	switch b := body.(type) {
	case nil:
	case *proto.Channel:
		resp.Body = &proto.Response_Channel{Channel: b}
	case *proto.ChannelLinkResult:
		resp.Body = &proto.Response_ChannelLink{ChannelLink: b}
	case *proto.ChannelInvitation:
		resp.Body = &proto.Response_ChannelInvitation{ChannelInvitation: b}
	case *proto.ChannelAdminsResult:
		resp.Body = &proto.Response_ChannelAdmins{ChannelAdmins: b}
	case *proto.ChannelInvitationsResult:
		resp.Body = &proto.Response_ChannelInvitations{ChannelInvitations: b}
	case *proto.ChannelPost:
		resp.Body = &proto.Response_ChannelPost{ChannelPost: b}
	case *proto.ChannelPostsResult:
		resp.Body = &proto.Response_ChannelPosts{ChannelPosts: b}
	case *proto.ChannelSyncResult:
		resp.Body = &proto.Response_ChannelSync{ChannelSync: b}
	case *proto.ChannelListResult:
		resp.Body = &proto.Response_ChannelList{ChannelList: b}
	case *proto.ChannelStatsResult:
		resp.Body = &proto.Response_ChannelStats{ChannelStats: b}
	case *proto.ChannelDirectoryResult:
		resp.Body = &proto.Response_ChannelDirectory{ChannelDirectory: b}
	case *proto.MediaTokenResult:
		resp.Body = &proto.Response_MediaToken{MediaToken: b}
	default:
		s.log.Error("channel response of unknown type", "type", fmt.Sprintf("%T", body))
		return &proto.Response{Code: proto.Code_INTERNAL, Message: "internal server error; it has been logged"}
	}
	return resp
}

// storeErr maps a store failure the handler did not expect to a coded or
// internal error.
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return proto.Errorf(proto.Code_UNAVAILABLE, "storage is unavailable; retry")
	case errors.Is(err, store.ErrConflict):
		return proto.Errorf(proto.Code_CONFLICT, "the channel changed meanwhile; fetch it and retry")
	}
	return fmt.Errorf("channels: %s: %w", op, err)
}

// role is an account's effective role in a channel: owner or admin when
// it has one, else follower when it follows, else none.
func role(m store.Membership) proto.ChannelRole {
	switch {
	case m.Role == store.RoleOwner:
		return proto.ChannelRole_CHANNEL_ROLE_OWNER
	case m.Role == store.RoleAdmin:
		return proto.ChannelRole_CHANNEL_ROLE_ADMIN
	case m.Following:
		return proto.ChannelRole_CHANNEL_ROLE_FOLLOWER
	}
	return proto.ChannelRole_CHANNEL_ROLE_NONE
}

func isAdmin(r proto.ChannelRole) bool {
	return r == proto.ChannelRole_CHANNEL_ROLE_OWNER || r == proto.ChannelRole_CHANNEL_ROLE_ADMIN
}

// access is what a handler knows about the requester and the channel.
type access struct {
	ch   store.Channel
	m    store.Membership
	role proto.ChannelRole
}

// load reads the channel and the requester's membership (NOT_FOUND for
// no channel, BAD_REQUEST for a malformed id).
func (s *Service) load(ctx context.Context, who gateway.Identity, id string) (access, error) {
	if !channel.ValidID(id) {
		return access{}, proto.Errorf(proto.Code_BAD_REQUEST, "%q is not a channel id", id)
	}
	ch, err := s.st.Channel(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return access{}, proto.Errorf(proto.Code_NOT_FOUND, "no channel %s on this server", id)
	}
	if err != nil {
		return access{}, storeErr("channel", err)
	}
	m, err := s.st.Membership(ctx, id, who.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return access{}, proto.Errorf(proto.Code_NOT_FOUND, "no channel %s on this server", id)
	}
	if err != nil {
		return access{}, storeErr("membership", err)
	}
	return access{ch: ch, m: m, role: role(m)}, nil
}

// loadAdmin is load for requests of the owner and admins.
func (s *Service) loadAdmin(ctx context.Context, who gateway.Identity, id string) (access, error) {
	a, err := s.load(ctx, who, id)
	if err == nil && !isAdmin(a.role) {
		err = proto.Errorf(proto.Code_FORBIDDEN, "only the channel's owner and admins can do this")
	}
	return a, err
}

// loadOwner is load for the owner's requests.
func (s *Service) loadOwner(ctx context.Context, who gateway.Identity, id string) (access, error) {
	a, err := s.load(ctx, who, id)
	if err == nil && a.role != proto.ChannelRole_CHANNEL_ROLE_OWNER {
		err = proto.Errorf(proto.Code_FORBIDDEN, "only the channel's owner can do this")
	}
	return a, err
}

// loadReader is load for requests of followers and admins.
func (s *Service) loadReader(ctx context.Context, who gateway.Identity, id string) (access, error) {
	a, err := s.load(ctx, who, id)
	if err == nil && a.role == proto.ChannelRole_CHANNEL_ROLE_NONE {
		err = proto.Errorf(proto.Code_FORBIDDEN, "follow the channel first")
	}
	return a, err
}

// loadFollower is load for what only followers do (react, vote, view).
func (s *Service) loadFollower(ctx context.Context, who gateway.Identity, id string) (access, error) {
	a, err := s.load(ctx, who, id)
	if err == nil && !a.m.Following {
		err = proto.Errorf(proto.Code_FORBIDDEN, "follow the channel first")
	}
	return a, err
}

func notSuspended(ch store.Channel) error {
	if ch.Suspended {
		return proto.Errorf(proto.Code_SUSPENDED, "the channel %s is suspended by the server's operator", ch.ID)
	}
	return nil
}

// keys reads and decodes the channel's key chain. The chain was verified
// link by link when stored.
func (s *Service) keys(ctx context.Context, id string) (channel.Keys, []*proto.ChannelKeyEntry, error) {
	stored, err := s.st.ChannelKeys(ctx, id)
	if err != nil {
		return nil, nil, storeErr("channel keys", err)
	}
	keys := make(channel.Keys, 0, len(stored))
	entries := make([]*proto.ChannelKeyEntry, 0, len(stored))
	for _, k := range stored {
		e := &proto.ChannelKeyEntry{}
		if err := gproto.Unmarshal(k.Entry, e); err != nil {
			return nil, nil, fmt.Errorf("channels: stored key %d of %s: %w", k.Index, id, err)
		}
		keys = append(keys, e.PublicKey)
		entries = append(entries, e)
	}
	return keys, entries, nil
}

// info decodes the channel's stored (verified) info.
func info(ch store.Channel) (*proto.SignedChannelInfo, *proto.ChannelInfo, error) {
	si := &proto.SignedChannelInfo{}
	if err := gproto.Unmarshal(ch.Info, si); err != nil {
		return nil, nil, fmt.Errorf("channels: stored info of %s: %w", ch.ID, err)
	}
	i := &proto.ChannelInfo{}
	if err := gproto.Unmarshal(si.Info, i); err != nil {
		return nil, nil, fmt.Errorf("channels: stored info of %s: %w", ch.ID, err)
	}
	return si, i, nil
}

// currentKey checks that something new is signed with the newest key.
func currentKey(keys channel.Keys, index uint32) error {
	if index != keys.Current() {
		return proto.Errorf(proto.Code_BAD_SIGNATURE, "signed with channel key %d, but the current key is %d; fetch the channel (its key was rotated)", index, keys.Current())
	}
	return nil
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// day is the UTC midnight of t.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
