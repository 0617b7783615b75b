package channels

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/local"
	"github.com/parleyhq/parley/proto"
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
