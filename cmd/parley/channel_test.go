package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/parleytest"
)

// jsonLines decodes each output line into a map.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var res []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		res = append(res, m)
	}
	return res
}

func oneJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	ls := jsonLines(t, out)
	if len(ls) != 1 {
		t.Fatalf("want one JSON line, got %q", out)
	}
	return ls[0]
}

// Every channel subcommand has real help that mentions --json.
func TestChannelHelp(t *testing.T) {
	root := newRoot()
	ch, _, err := root.Find([]string{"channel"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"create", "edit", "link", "post", "schedule", "drafts", "approve", "delete-post", "follow",
		"unfollow", "mute", "updates", "react", "vote", "stats", "admins", "directory"}
	for _, name := range want {
		sub, _, err := ch.Find([]string{name})
		if err != nil || sub == ch {
			t.Errorf("parley channel %s is missing", name)
			continue
		}
		out := mustRun(t, "channel", name, "--help")
		text := sub.Long
		if text == "" {
			text = sub.Short
		}
		if !strings.Contains(out, "--json") || !strings.Contains(out, text) || sub.Short == "" {
			t.Errorf("parley channel %s --help:\n%s", name, out)
		}
	}
	for _, name := range []string{"reports", "suspend", "verify"} {
		out := mustRun(t, "admin", name, "--help")
		if !strings.Contains(out, "--json") {
			t.Errorf("parley admin %s --help:\n%s", name, out)
		}
	}
}

// The channel commands end to end on a real server, through --json.
func TestChannelCommands(t *testing.T) {
	srv := parleytest.NewServer(t)
	dir := t.TempDir()
	owner := []string{"--profile", filepath.Join(dir, "owner"), "--server", srv.URL}
	reader := []string{"--profile", filepath.Join(dir, "reader"), "--server", srv.URL}
	as := func(who []string, args ...string) string {
		return mustRun(t, append(append([]string{}, who...), args...)...)
	}
	as(owner, "register", "@cityhall")
	as(reader, "register", "@resident")

	ch := oneJSON(t, as(owner, "channel", "create", "Lyon traffic", "--description", "Jams and road works",
		"--category", "traffic", "--country", "fr", "--listed", "--json"))
	id, _ := ch["id"].(string)
	link, _ := ch["link"].(string)
	if !strings.HasPrefix(id, "c") || !strings.HasPrefix(link, "parley://channel/") || ch["role"] != "owner" || ch["country"] != "FR" {
		t.Fatalf("create printed %v", ch)
	}
	if l := oneJSON(t, as(owner, "channel", "link", id, "--json")); l["link"] != link {
		t.Fatalf("link printed %v, want %s", l, link)
	}
	if f := oneJSON(t, as(reader, "channel", "follow", link, "--json")); f["id"] != id || f["role"] != "follower" || f["signature_checked"] != true {
		t.Fatalf("follow printed %v", f)
	}
	if d := jsonLines(t, as(reader, "channel", "directory", "lyon", "--json")); len(d) != 1 || d[0]["id"] != id {
		t.Fatalf("directory printed %v", d)
	}

	p := oneJSON(t, as(owner, "channel", "post", id, "A7 closed near Vienne", "--json"))
	postID, _ := p["id"].(string)
	if len(postID) != 32 || p["state"] != "published" {
		t.Fatalf("post printed %v", p)
	}
	poll := oneJSON(t, as(owner, "channel", "post", id, "--poll", "Tram or bus?", "--option", "tram", "--option", "bus", "--json"))
	pollID, _ := poll["id"].(string)
	ups := jsonLines(t, as(reader, "channel", "updates", "--json"))
	if len(ups) != 2 || ups[0]["text"] != "A7 closed near Vienne" || ups[1]["id"] != pollID {
		t.Fatalf("updates printed %v", ups)
	}
	if again := strings.TrimSpace(as(reader, "channel", "updates", "--json")); again != "" {
		t.Fatalf("updates printed the same posts twice: %s", again)
	}
	if r := oneJSON(t, as(reader, "channel", "react", id, postID, "👍", "--json")); r["my_reaction"] != "👍" {
		t.Fatalf("react printed %v", r)
	}
	if _, _, err := run(t, nil, append(reader, "channel", "react", id, postID, "🍕")...); err == nil || !strings.Contains(err.Error(), "allows only") {
		t.Fatalf("a reaction outside the set: %v", err)
	}
	v := oneJSON(t, as(reader, "channel", "vote", id, pollID, "2", "--json"))
	if counts, _ := v["poll"].(map[string]any)["counts"].([]any); len(counts) != 2 || counts[1].(float64) != 1 {
		t.Fatalf("vote printed %v", v)
	}

	st := oneJSON(t, as(owner, "channel", "stats", id, "--json"))
	if st["followers"].(float64) != 1 {
		t.Fatalf("stats printed %v", st)
	}
	if strings.Contains(as(owner, "channel", "stats", id), "@resident") {
		t.Fatal("stats name a follower")
	}
	s := oneJSON(t, as(owner, "channel", "schedule", id, "+2h", "Polls open at 8", "--json"))
	if s["state"] != "scheduled" || s["publish_at"] == nil {
		t.Fatalf("schedule printed %v", s)
	}
	if _, _, err := run(t, nil, append(owner, "channel", "schedule", id, "2001-01-01T00:00", "too late")...); err == nil {
		t.Fatal("scheduling in the past succeeded")
	}
	as(owner, "channel", "post", id, "a draft", "--draft")
	if ds := jsonLines(t, as(owner, "channel", "drafts", id, "--json")); len(ds) != 2 {
		t.Fatalf("drafts printed %v", ds)
	}
	if e := oneJSON(t, as(owner, "channel", "edit", id, "--description", "Live traffic for Lyon", "--json")); e["description"] != "Live traffic for Lyon" || e["category"] != "traffic" {
		t.Fatalf("edit printed %v", e)
	}
	if team := oneJSON(t, as(owner, "channel", "admins", id, "--json")); len(team["members"].([]any)) != 1 {
		t.Fatalf("admins printed %v", team)
	}
	if _, _, err := run(t, nil, append(reader, "channel", "admins", id)...); err == nil {
		t.Fatal("a follower listed the admins")
	}
	if _, _, err := run(t, nil, append(reader, "channel", "approve", id, postID)...); err == nil {
		t.Fatal("a follower approved a post")
	}
	as(owner, "channel", "delete-post", id, postID, "--json")
	as(reader, "channel", "report", id, pollID, "spam", "--json")
	as(reader, "channel", "mute", id)
	as(reader, "channel", "mute", id, "--off")

	adminURL := []string{"admin", "--admin", srv.AdminURL}
	q := oneJSON(t, mustRun(t, append(adminURL, "reports", "--json")...))
	if rs, _ := q["reports"].([]any); len(rs) != 1 {
		t.Fatalf("reports printed %v", q)
	}
	if out := mustRun(t, append(adminURL, "reports")...); !strings.Contains(out, "spam") || strings.Contains(out, "resident") {
		t.Fatalf("reports printed %q", out)
	}
	mustRun(t, append(adminURL, "verify", id)...)
	if d := jsonLines(t, as(reader, "channel", "directory", "--json")); len(d) != 1 || d[0]["verified"] != true {
		t.Fatalf("directory after verify %v", d)
	}
	mustRun(t, append(adminURL, "suspend", id)...)
	if d := strings.TrimSpace(as(reader, "channel", "directory", "--json")); d != "" {
		t.Fatalf("a suspended channel is listed: %s", d)
	}
	if _, _, err := run(t, nil, append(owner, "channel", "post", id, "on air?")...); err == nil {
		t.Fatal("a suspended channel posted")
	}
	mustRun(t, append(adminURL, "suspend", id, "--off")...)
	as(reader, "channel", "unfollow", id, "--json")
	if l := strings.TrimSpace(as(reader, "channel", "list", "--json")); l != "" {
		t.Fatalf("after unfollowing, list printed %s", l)
	}
}
