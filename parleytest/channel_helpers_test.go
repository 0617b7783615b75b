package parleytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/internal/pgtest"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/sqlite"
)

// storeKind names the store a channel test runs on.
type storeKind struct {
	name string
	dsn  string // PostgreSQL; "" for the embedded SQLite store
}

// onBothStores runs a test on the embedded SQLite store and on
// PostgreSQL (a fresh schema), each with its own server.
func onBothStores(t *testing.T, run func(t *testing.T, st storeKind, opts ...Option)) {
	t.Run("sqlite", func(t *testing.T) { run(t, storeKind{name: "sqlite"}) })
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.DSN(t)
		run(t, storeKind{name: "postgres", dsn: dsn}, WithConfig(func(c *server.Config) { c.PostgresDSN = dsn }))
	})
}

// openStore opens a second handle on the server's store, to reach under
// the server (forgeries, setups).
func openStore(t *testing.T, srv *Server, st storeKind) store.Store {
	t.Helper()
	ctx := Ctx(t)
	var s store.Store
	var err error
	if st.dsn != "" {
		var pg *postgres.Store
		pg, err = postgres.Open(ctx, st.dsn)
		s = pg
	} else {
		var sl *sqlite.Store
		sl, err = sqlite.Open(ctx, filepath.Join(srv.DataDir, server.DatabaseFile))
		s = sl
	}
	if err != nil {
		t.Fatalf("open the server's store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testSettings are the settings of a test channel.
func testSettings(name string) client.ChannelSettings {
	return client.ChannelSettings{Name: name, Description: "A test channel about " + name, Category: "news",
		Country: "FR", Listed: true, Reactions: []string{"👍", "❤️", "😮"}}
}

// newChannel creates a channel owned by owner.
func newChannel(t *testing.T, owner *Client, name string) client.Channel {
	t.Helper()
	ch, err := owner.CreateChannel(Ctx(t), testSettings(name))
	if err != nil {
		t.Fatalf("create channel %s: %v", name, err)
	}
	return ch
}

// link returns the channel's invite link.
func link(t *testing.T, c *Client, id string) string {
	t.Helper()
	l, err := c.ChannelLink(Ctx(t), id, false)
	if err != nil {
		t.Fatalf("channel link: %v", err)
	}
	return l
}

// follow follows by invite link.
func follow(t *testing.T, c *Client, owner *Client, id string) {
	t.Helper()
	if _, err := c.Follow(Ctx(t), link(t, owner, id)); err != nil {
		t.Fatalf("%s: follow: %v", c.Handle, err)
	}
}

// post publishes a text post.
func post(t *testing.T, c *Client, id, text string) client.Post {
	t.Helper()
	p, err := c.Publish(Ctx(t), id, client.PostContent{Text: text}, client.PublishOptions{})
	if err != nil {
		t.Fatalf("%s: publish %q: %v", c.Handle, text, err)
	}
	return p
}

// waitPost waits for the ChannelPostEvent of a post with this text. A
// connected follower gets it by itself, with no sync made by the test:
// the server announces every post to the devices in its fan-out index,
// and a device is in it before any channel request of its connection is
// answered, the sync its client makes on connecting included (a post
// before that sync is in the sync's answer).
func waitPost(t *testing.T, c *Client, text string) client.ChannelPostEvent {
	t.Helper()
	return WaitEvent(t, c, func(e client.ChannelPostEvent) bool { return e.Post.Text == text })
}

// wantCode checks that err is a *proto.Error with code.
func wantCode(t *testing.T, err error, code proto.Code, what string) {
	t.Helper()
	var pe *proto.Error
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("%s: got %v, want %v", what, err, code)
	}
	if pe.Message == "" {
		t.Fatalf("%s: %v without a message", what, code)
	}
}

// waitUntil polls cond (each poll is a round trip or a profile read)
// until it holds, failing after WaitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// holdsKey reports whether c's profile holds key index of the channel.
func holdsKey(c *Client, id string, index uint32) bool {
	keys, err := c.Profile().ChannelKeys(context.Background(), id)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if k.Index == index {
			return true
		}
	}
	return false
}

// makeAdmin has owner invite admin, admin accept, and waits until the
// admin's device holds the channel's current key (handed over by the
// owner's client through the team conversation).
func makeAdmin(t *testing.T, owner, admin *Client, id string) {
	t.Helper()
	ctx := Ctx(t)
	if _, err := owner.InviteAdmin(ctx, id, admin.Handle); err != nil {
		t.Fatalf("invite %s: %v", admin.Handle, err)
	}
	WaitEvent(t, admin, func(e client.ChannelInvitationEvent) bool { return e.Invitation.ChannelID == id })
	ch, err := admin.AcceptAdmin(ctx, id, false)
	if err != nil {
		t.Fatalf("%s: accept: %v", admin.Handle, err)
	}
	// The owner's client does this by itself when the server tells it
	// (TestChannelAdminTeam relies on that); here it is not left to an
	// at-most-once event.
	if err := owner.SyncChannelTeam(ctx, id); err != nil {
		t.Fatalf("%s: team sync: %v", owner.Handle, err)
	}
	waitUntil(t, admin.Handle+" to hold the channel key", func() bool { return holdsKey(admin, id, ch.KeyIndex) })
}

// channelState is what "the channel is unchanged" compares.
type channelState struct {
	HeadSeq     uint64
	InfoVersion uint64
	KeyIndex    uint32
	Followers   uint64
	Posts       int
	Drafts      int
	Counts      string
}

// stateOf reads the channel's observable state as its owner.
func stateOf(t *testing.T, owner *Client, id string) channelState {
	t.Helper()
	ctx := Ctx(t)
	ch, err := owner.GetChannel(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st, err := owner.Stats(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	drafts, err := owner.Drafts(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var counts []string
	for _, p := range st.Posts {
		counts = append(counts, fmt.Sprintf("%x:%d/%d/%d/%v/%v", p.PostID, p.Views, p.Reactions, p.Votes, p.ReactionCounts, p.PollCounts))
	}
	return channelState{HeadSeq: ch.HeadSeq, InfoVersion: ch.InfoVersion, KeyIndex: ch.KeyIndex, Followers: st.Followers,
		Posts: len(st.Posts), Drafts: len(drafts), Counts: strings.Join(counts, ",")}
}

// unchanged checks that the channel's state is still before.
func unchanged(t *testing.T, owner *Client, id string, before channelState, what string) {
	t.Helper()
	if after := stateOf(t, owner, id); after != before {
		t.Fatalf("%s changed the channel:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// admin calls the server's admin listener.
func adminCall(t *testing.T, srv *Server, method, path string, body any) []byte {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, srv.AdminURL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return b
}

// signWith signs a post with an arbitrary key (forgeries, raw requests).
func signWith(t *testing.T, k channel.PrivateKey, index uint32, p *proto.Post) *proto.SignedPost {
	t.Helper()
	sp, err := channel.SignPost(k, index, p)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func newPostID() []byte {
	id := make([]byte, proto.PostIDBytes)
	rand.Read(id)
	return id
}

// mustKey rebuilds a channel key from a seed held in a profile.
func mustKey(t *testing.T, seed []byte) channel.PrivateKey {
	t.Helper()
	k, err := channel.NewPrivateKey(seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// withFakeTime runs the server on a fake clock that tests advance by
// days; connections are kept (the idle timeout runs on that clock too,
// and a test jumping a month ahead is not a month of silence).
func withFakeTime() []Option {
	return []Option{WithFakeClock(time.Now()), WithConfig(func(c *server.Config) { c.IdleTimeout = 10 * 365 * 24 * time.Hour })}
}
