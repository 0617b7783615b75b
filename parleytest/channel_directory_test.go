package parleytest

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

func names(chs []client.Channel) []string {
	var out []string
	for _, ch := range chs {
		out = append(out, ch.Name)
	}
	return out
}

// The directory: listed channels only, search by name and description,
// filters, the three sorts, the operator's verified badge; moderation:
// reports reach the operator's queue without the reporter, and a
// suspended channel leaves the directory until the suspension is lifted.
func TestChannelDirectoryAndModeration(t *testing.T) {
	requireMLS(t)
	onBothStores(t, func(t *testing.T, _ storeKind, opts ...Option) {
		srv := NewServer(t, opts...)
		owner := NewClient(t, srv, "@publisher")
		f1 := NewClient(t, srv, "@fan.one")
		f2 := NewClient(t, srv, "@fan.two")
		ctx := Ctx(t)
		mk := func(name, desc, category, country string, listed bool) client.Channel {
			ch, err := owner.CreateChannel(ctx, client.ChannelSettings{Name: name, Description: desc, Category: category,
				Country: country, Listed: listed, Reactions: []string{"👍"}})
			if err != nil {
				t.Fatal(err)
			}
			return ch
		}
		traffic := mk("Lyon traffic", "Jams and road works around Lyon", "traffic", "FR", true)
		weather := mk("Paris weather", "Forecasts for the Paris region", "weather", "FR", true)
		berlin := mk("Berlin news", "Nachrichten aus Berlin", "news", "DE", true)
		secret := mk("Lyon insiders", "Not listed anywhere", "news", "FR", false)

		search := func(q client.DirectoryQuery) []string {
			t.Helper()
			chs, err := f1.Directory(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range chs {
				if ch.ID == secret.ID {
					t.Fatal("an unlisted channel is in the directory")
				}
			}
			return names(chs)
		}
		if got := search(client.DirectoryQuery{Text: "lyon"}); len(got) != 1 || got[0] != "Lyon traffic" {
			t.Fatalf("search lyon: %v", got)
		}
		if got := search(client.DirectoryQuery{Text: "road wor"}); len(got) != 1 || got[0] != "Lyon traffic" {
			t.Fatalf("search by description words (prefix): %v", got)
		}
		if got := search(client.DirectoryQuery{Category: "weather"}); len(got) != 1 || got[0] != "Paris weather" {
			t.Fatalf("category weather: %v", got)
		}
		if got := search(client.DirectoryQuery{Country: "DE"}); len(got) != 1 || got[0] != "Berlin news" {
			t.Fatalf("country DE: %v", got)
		}
		if got := search(client.DirectoryQuery{}); len(got) != 3 || got[0] != "Berlin news" {
			t.Fatalf("newest first: %v", got)
		}
		if _, err := f1.Follow(ctx, weather.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f2.Follow(ctx, weather.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f2.Follow(ctx, traffic.ID); err != nil {
			t.Fatal(err)
		}
		_, err := f1.Follow(ctx, secret.ID)
		wantCode(t, err, proto.Code_NOT_FOUND, "following an unlisted channel by id")
		if got := search(client.DirectoryQuery{Sort: proto.DirectorySort_DIRECTORY_SORT_FOLLOWERS}); got[0] != "Paris weather" || got[1] != "Lyon traffic" {
			t.Fatalf("most followed: %v", got)
		}
		for _, text := range []string{"one", "two", "three"} {
			post(t, owner, berlin.ID, text)
		}
		post(t, owner, traffic.ID, "jam on the A7")
		if got := search(client.DirectoryQuery{Sort: proto.DirectorySort_DIRECTORY_SORT_ACTIVE}); got[0] != "Berlin news" || got[1] != "Lyon traffic" {
			t.Fatalf("most active: %v", got)
		}

		// The operator's badge.
		adminCall(t, srv, "POST", "/v1/channels/"+weather.ID+"/verify", map[string]bool{"verified": true})
		chs, _ := f1.Directory(ctx, client.DirectoryQuery{Category: "weather"})
		if len(chs) != 1 || !chs[0].Verified || chs[0].Followers != 2 {
			t.Fatalf("verified entry %+v", chs)
		}
		if got, err := f1.GetChannel(ctx, weather.ID); err != nil || !got.Verified || !got.Checked {
			t.Fatalf("verified channel %+v, %v", got, err)
		}

		// Reports go to the operator's queue, without the reporter.
		p := post(t, owner, traffic.ID, "Buy cheap watches here")
		waitUntil(t, "the follower to hold the spam", func() bool {
			ps, _ := f2.ChannelPosts(ctx, traffic.ID, 10)
			return len(ps) == 2
		})
		if err := f2.Report(ctx, traffic.ID, p.ID, "spam"); err != nil {
			t.Fatal(err)
		}
		if err := f1.Report(ctx, berlin.ID, nil, "misleading name"); err != nil {
			t.Fatal(err)
		}
		raw := adminCall(t, srv, "GET", "/v1/reports", nil)
		for _, who := range []*Client{f1, f2} {
			if strings.Contains(string(raw), who.Self().AccountID) || strings.Contains(string(raw), strings.TrimPrefix(who.Handle, "@")) || strings.Contains(string(raw), who.DeviceID()) {
				t.Fatalf("the report queue names the reporter %s: %s", who.Handle, raw)
			}
		}
		var q struct {
			Reports []struct {
				ID        json.RawMessage `json:"id"`
				ChannelID string          `json:"channel_id"`
				PostID    string          `json:"post_id"`
				Reason    string          `json:"reason"`
			} `json:"reports"`
		}
		if err := json.Unmarshal(raw, &q); err != nil || len(q.Reports) != 2 {
			t.Fatalf("report queue %s, %v", raw, err)
		}
		if q.Reports[0].ChannelID != traffic.ID || q.Reports[0].PostID != hex.EncodeToString(p.ID) || q.Reports[0].Reason != "spam" {
			t.Fatalf("first report %+v", q.Reports[0])
		}
		if q.Reports[1].ChannelID != berlin.ID || q.Reports[1].PostID != "" {
			t.Fatalf("second report %+v", q.Reports[1])
		}
		adminCall(t, srv, "POST", "/v1/reports/"+strings.Trim(string(q.Reports[0].ID), `"`)+"/resolve", nil)
		if err := json.Unmarshal(adminCall(t, srv, "GET", "/v1/reports", nil), &q); err != nil || len(q.Reports) != 1 {
			t.Fatalf("after resolving: %+v, %v", q.Reports, err)
		}

		// Suspension takes a channel out of the directory until lifted.
		adminCall(t, srv, "POST", "/v1/channels/"+traffic.ID+"/suspend", map[string]bool{"suspended": true})
		if got := search(client.DirectoryQuery{Text: "lyon"}); len(got) != 0 {
			t.Fatalf("a suspended channel is listed: %v", got)
		}
		adminCall(t, srv, "POST", "/v1/channels/"+traffic.ID+"/suspend", map[string]bool{"suspended": false})
		if got := search(client.DirectoryQuery{Text: "lyon"}); len(got) != 1 {
			t.Fatalf("after lifting the suspension: %v", got)
		}
	})
}
