package channels

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/local"
	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/sqlite"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// recorder is a fake connection: the frames its bus callback got.
type recorder struct {
	mu     sync.Mutex
	frames []*proto.ChannelUpdated
}

func (r *recorder) fn(m bus.Message) {
	var f proto.Frame
	if gproto.Unmarshal(m.Frame, &f) == nil {
		r.mu.Lock()
		r.frames = append(r.frames, f.GetEvent().GetChannelUpdated())
		r.mu.Unlock()
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.frames)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func account(t *testing.T, st store.Store, name string) string {
	t.Helper()
	a := store.Account{ID: "acct-" + name, Handle: "@" + name, CreatedAt: t0}
	d := store.Device{ID: "dev-" + name, AccountID: a.ID, SigningKey: []byte("k" + name), Name: "phone", Primary: true, AddedAt: t0}
	if err := st.CreateAccount(context.Background(), a, d, store.LogEntry{AccountID: a.ID, Entry: []byte("e")}); err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func frame(u *proto.ChannelUpdated) []byte {
	b, _ := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Event{Event: &proto.Event{Body: &proto.Event_ChannelUpdated{ChannelUpdated: u}}}})
	return b
}

func TestFanout(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	owner, fan, muted := account(t, st, "owner"), account(t, st, "fan"), account(t, st, "muted")
	account(t, st, "stranger")
	const ch = "cchannel"
	if err := st.CreateChannel(ctx, store.Channel{ID: ch, Info: []byte("i"), InfoVersion: 1, Name: "n", Category: "news"}, owner,
		store.ChannelKey{Entry: []byte("k")}, t0, 10); err != nil {
		t.Fatal(err)
	}
	st.Follow(ctx, ch, fan, t0)
	st.Follow(ctx, ch, muted, t0)
	st.SetMuted(ctx, ch, muted, true)

	b := local.New()
	defer b.Close()
	f := NewFanout(b, st, nil)
	f.Start()
	defer f.Stop()
	recs := map[string]*recorder{}
	unsubs := map[string]func(){}
	for _, n := range []string{"owner", "fan", "muted", "stranger"} {
		recs[n] = &recorder{}
		u, err := f.Subscribe("dev-"+n, recs[n].fn)
		if err != nil {
			t.Fatal(err)
		}
		unsubs[n] = u
	}
	eventually(t, "the index", func() bool { return f.Members(ch) == 3 })

	f.PublishChannelEvent(ctx, ch, frame(&proto.ChannelUpdated{ChannelId: ch, Seq: 1}))
	f.PublishChannelEvent(ctx, ch, frame(&proto.ChannelUpdated{ChannelId: ch, Admin: true}))
	f.PublishChannelEvent(ctx, ch, frame(&proto.ChannelUpdated{ChannelId: ch, Seq: 2}))
	eventually(t, "fan's events", func() bool { return recs["fan"].count() == 2 && recs["owner"].count() == 3 })
	if recs["muted"].count() != 0 || recs["stranger"].count() != 0 {
		t.Fatalf("muted got %d, stranger %d", recs["muted"].count(), recs["stranger"].count())
	}
	if got := recs["fan"].frames; got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("order: %v", got)
	}
	// The device's own bus route still works through the wrapper.
	b.Publish(ctx, "dev-stranger", bus.Message{Kind: bus.KindFrame, Frame: frame(&proto.ChannelUpdated{ChannelId: "direct"})})
	if recs["stranger"].count() != 1 {
		t.Fatal("device route broken")
	}

	// Unfollowing through this node updates the index.
	st.Unfollow(ctx, ch, fan, t0)
	f.Refresh(ctx, fan, ch)
	if f.Members(ch) != 2 {
		t.Fatalf("members after unfollow = %d", f.Members(ch))
	}
	// The last connections leave: the node drops the channel topic.
	for _, u := range unsubs {
		u()
	}
	if f.Members(ch) != 0 {
		t.Fatalf("members after disconnect = %d", f.Members(ch))
	}
	f.PublishChannelEvent(ctx, ch, frame(&proto.ChannelUpdated{ChannelId: ch, Seq: 3}))
	if f.Dropped() != 0 {
		t.Fatalf("dropped %d", f.Dropped())
	}
}

// newIndexFixture is a store with a listed channel owned by "owner" and
// the accounts "fan" and "other", and a Fanout over a local bus whose
// resolver does not run unless the test starts it: a resolver that has
// not got to a device yet, made permanent.
func newIndexFixture(t *testing.T, wrap func(store.Store) store.Store) (store.Store, *Fanout, *Service, string) {
	t.Helper()
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	var st store.Store = sq
	account(t, st, "owner")
	account(t, st, "fan")
	fst := st // what the Fanout reads through
	if wrap != nil {
		fst = wrap(st)
	}
	b := local.New()
	t.Cleanup(func() { b.Close() })
	f := NewFanout(b, fst, nil)
	f.wg.Go(f.dispatcher) // the resolver is the test's to start
	t.Cleanup(f.Stop)
	svc, err := New(ctx, Config{Store: st, Bus: b, Fanout: f})
	if err != nil {
		t.Fatal(err)
	}
	k, err := channel.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ch := channel.ID(k.Public())
	si, err := channel.SignInfo(k, 0, &proto.ChannelInfo{ChannelId: ch, Version: 1, Name: "News", Category: "news", Listed: true, Reactions: channel.DefaultReactions})
	if err != nil {
		t.Fatal(err)
	}
	serve(t, svc, "owner", &proto.Request{Body: &proto.Request_ChannelCreate{ChannelCreate: &proto.ChannelCreate{Key: channel.FirstKeyEntry(k), Info: si}}})
	return st, f, svc, ch
}

func serve(t *testing.T, svc *Service, name string, req *proto.Request) {
	t.Helper()
	who := gateway.Identity{AccountID: "acct-" + name, Handle: "@" + name, DeviceID: "dev-" + name}
	resp, ok := svc.Serve(context.Background(), who, req)
	if !ok || resp.Code != proto.Code_OK {
		t.Fatalf("%s: %v: %v", name, req, resp)
	}
}

// A device that follows before the node's resolver got to it (a busy
// node, a reconnect storm) hears of the next post: its Follow is answered
// only once it is in the index. It used to miss the event (the follow's
// index update found no device of the account here, and the post came
// before the resolver).
func TestFanoutFollowBeforeResolver(t *testing.T) {
	_, f, svc, ch := newIndexFixture(t, nil)
	rec := &recorder{}
	if _, err := f.Subscribe("dev-fan", rec.fn); err != nil {
		t.Fatal(err)
	}
	serve(t, svc, "fan", &proto.Request{Body: &proto.Request_ChannelFollow{ChannelFollow: &proto.ChannelFollow{ChannelId: ch}}})
	if n := f.Members(ch); n != 1 {
		t.Fatalf("index members after the follow was answered: %d, want 1", n)
	}
	f.PublishChannelEvent(context.Background(), ch, frame(&proto.ChannelUpdated{ChannelId: ch, Seq: 1}))
	eventually(t, "the follower's event", func() bool { return rec.count() == 1 })
}

// A follower that reconnects and syncs (what a client does on every
// connection) hears of every later post, even while the resolver has not
// got to it: a post is either in the sync's answer or announced.
func TestFanoutSyncBeforeResolver(t *testing.T) {
	st, f, svc, ch := newIndexFixture(t, nil)
	if _, err := st.Follow(context.Background(), ch, "acct-fan", t0); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if _, err := f.Subscribe("dev-fan", rec.fn); err != nil {
		t.Fatal(err)
	}
	serve(t, svc, "fan", &proto.Request{Body: &proto.Request_ChannelSync{ChannelSync: &proto.ChannelSync{ChannelId: ch}}})
	if n := f.Members(ch); n != 1 {
		t.Fatalf("index members after the sync was answered: %d, want 1", n)
	}
	f.PublishChannelEvent(context.Background(), ch, frame(&proto.ChannelUpdated{ChannelId: ch, Seq: 1}))
	eventually(t, "the follower's event", func() bool { return rec.count() == 1 })
	// The resolver, when it gets there, changes nothing.
	f.lookup(subOf(f, "dev-fan"))
	if n := f.Members(ch); n != 1 || !f.Indexed("dev-fan") {
		t.Fatalf("after the resolver: %d members, indexed %v", n, f.Indexed("dev-fan"))
	}
}

// gatedStore holds each read of memberships, after the store answered
// and before the Fanout sees the answer, until the test lets it go: the
// interleavings of index reads and membership changes, made exact.
type gatedStore struct {
	store.Store
	reads chan held
}

// held is a read waiting for the test.
type held struct {
	what string // "memberships" or "membership"
	go_  chan struct{}
}

func (h held) release() { close(h.go_) }

func gate(st store.Store) *gatedStore { return &gatedStore{Store: st, reads: make(chan held)} }

func (g *gatedStore) hold(what string) {
	h := held{what: what, go_: make(chan struct{})}
	g.reads <- h
	<-h.go_
}

func (g *gatedStore) Memberships(ctx context.Context, accountID string) ([]store.Membership, error) {
	ms, err := g.Store.Memberships(ctx, accountID)
	g.hold("memberships")
	return ms, err
}

func (g *gatedStore) Membership(ctx context.Context, channelID, accountID string) (store.Membership, error) {
	m, err := g.Store.Membership(ctx, channelID, accountID)
	g.hold("membership")
	return m, err
}

// expect waits for the next read, which must be of what.
func (g *gatedStore) expect(t *testing.T, what string) held {
	t.Helper()
	select {
	case h := <-g.reads:
		if h.what != what {
			h.release()
			t.Fatalf("store read %s, want %s", h.what, what)
		}
		return h
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s read", what)
		return held{}
	}
}

// A follow committed after the resolver read the follower's memberships,
// and before it put them in the index, is not lost: the read is stale and
// made again.
func TestFanoutFollowDuringResolverRead(t *testing.T) {
	var g *gatedStore
	st, f, _, ch := newIndexFixture(t, func(st store.Store) store.Store { g = gate(st); return g })
	f.wg.Go(f.resolver)
	if _, err := f.Subscribe("dev-fan", (&recorder{}).fn); err != nil {
		t.Fatal(err)
	}
	first := g.expect(t, "memberships") // none yet
	if _, err := st.Follow(context.Background(), ch, "acct-fan", t0); err != nil {
		t.Fatal(err)
	}
	f.Refresh(context.Background(), "acct-fan", ch) // no device indexed: only marks the read
	first.release()
	g.expect(t, "memberships").release() // read again
	eventually(t, "the follower in the index", func() bool { return f.Members(ch) == 1 })
}

// Two changes of one membership whose reads cross: the earlier read's
// answer, arriving last, does not undo the later change.
func TestFanoutCrossingRefreshes(t *testing.T) {
	var g *gatedStore
	st, f, _, ch := newIndexFixture(t, func(st store.Store) store.Store { g = gate(st); return g })
	ctx := context.Background()
	if _, err := f.Subscribe("dev-fan", (&recorder{}).fn); err != nil {
		t.Fatal(err)
	}
	indexed := make(chan struct{})
	go func() { defer close(indexed); f.Resolve(ctx, "dev-fan", "acct-fan") }()
	g.expect(t, "memberships").release()
	<-indexed

	st.Follow(ctx, ch, "acct-fan", t0)
	followed := make(chan struct{})
	go func() { defer close(followed); f.Refresh(ctx, "acct-fan", ch) }()
	following := g.expect(t, "membership")
	st.Unfollow(ctx, ch, "acct-fan", t0)
	unfollowed := make(chan struct{})
	go func() { defer close(unfollowed); f.Refresh(ctx, "acct-fan", ch) }()
	g.expect(t, "membership").release() // not following
	<-unfollowed
	if n := f.Members(ch); n != 0 {
		t.Fatalf("members after the unfollow: %d", n)
	}
	following.release()                 // arrives last, stale
	g.expect(t, "membership").release() // read again
	<-followed
	if n := f.Members(ch); n != 0 {
		t.Fatalf("the follow's stale read put the unfollowed account back: %d members", n)
	}
}

// subOf is a connection of the device in the index's lists (nil if none).
func subOf(f *Fanout, deviceID string) *sub {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, lists := range []map[string]*sub{f.accounts, f.unknown} {
		for _, head := range lists {
			for s := head; s != nil; s = s.next {
				if s.device == deviceID {
					return s
				}
			}
		}
	}
	return nil
}

// countingStore counts the Fanout's reads of an account's memberships.
type countingStore struct {
	store.Store
	memberships atomic.Int32
}

func (c *countingStore) Memberships(ctx context.Context, accountID string) ([]store.Membership, error) {
	c.memberships.Add(1)
	return c.Store.Memberships(ctx, accountID)
}

// A connection whose handshake read its account to be in no channel is
// in the index at once, with no read of memberships, and still hears of
// a channel the account follows afterwards.
func TestFanoutHintNoChannels(t *testing.T) {
	var cs *countingStore
	_, f, svc, ch := newIndexFixture(t, func(st store.Store) store.Store { cs = &countingStore{Store: st}; return cs })
	f.wg.Go(f.resolver)
	rec := &recorder{}
	hint := gateway.ChannelHint{Epoch: f.ChannelEpoch(), None: true}
	if _, err := f.SubscribeAccount("dev-fan", "acct-fan", hint, rec.fn); err != nil {
		t.Fatal(err)
	}
	if !f.Indexed("dev-fan") {
		t.Fatal("a device of an account in no channel is not indexed at once")
	}
	serve(t, svc, "fan", &proto.Request{Body: &proto.Request_ChannelFollow{ChannelFollow: &proto.ChannelFollow{ChannelId: ch}}})
	f.PublishChannelEvent(context.Background(), ch, frame(&proto.ChannelUpdated{ChannelId: ch, Seq: 1}))
	eventually(t, "the follower's event", func() bool { return rec.count() == 1 })
	if n := cs.memberships.Load(); n != 0 {
		t.Fatalf("%d reads of memberships, want none", n)
	}
}

// A hint older than a membership change through this node is not
// trusted: the account's memberships are read.
func TestFanoutStaleHint(t *testing.T) {
	var cs *countingStore
	_, f, _, ch := newIndexFixture(t, func(st store.Store) store.Store { cs = &countingStore{Store: st}; return cs })
	hint := gateway.ChannelHint{Epoch: f.ChannelEpoch(), None: true}
	f.Refresh(context.Background(), "acct-fan", ch) // a change between the handshake's read and the subscription
	if _, err := f.SubscribeAccount("dev-fan", "acct-fan", hint, (&recorder{}).fn); err != nil {
		t.Fatal(err)
	}
	if f.Indexed("dev-fan") {
		t.Fatal("indexed on a stale hint")
	}
	f.Resolve(context.Background(), "dev-fan", "acct-fan")
	if !f.Indexed("dev-fan") || cs.memberships.Load() != 1 {
		t.Fatalf("after Resolve: indexed %v, %d reads of memberships", f.Indexed("dev-fan"), cs.memberships.Load())
	}
}
