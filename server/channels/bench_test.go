package channels

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/local"
	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/postgres"
	"github.com/parleyhq/parley/store/sqlite"
)

// Channel benchmarks (docs/BENCHMARKS.md, "Channels"). They build large
// channels directly in the store (bulk SQL, as an operator's import
// would), then measure the server's real request paths:
//
//	go test -run '^$' -bench 'Channel' -benchtime 20x ./server/channels
//
// -short divides every size by 100. PostgreSQL is the machine's
// (PARLEY_TEST_POSTGRES, default postgres://postgres@127.0.0.1:5432/test),
// in a fresh schema dropped afterwards.

const benchPGDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func scaled(n int) int {
	if testing.Short() {
		return max(n/100, 10)
	}
	return n
}

// benchStore is a store plus a raw connection to the same database for
// bulk seeding.
type benchStore struct {
	name string
	st   store.Store
	raw  *sql.DB // SQLite only
	pg   *pgx.Conn
}

func openBench(b *testing.B, which string) *benchStore {
	b.Helper()
	ctx := context.Background()
	switch which {
	case "sqlite":
		path := filepath.Join(b.TempDir(), "bench.db")
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
		if err != nil {
			b.Fatal(err)
		}
		raw.SetMaxOpenConns(1)
		b.Cleanup(func() { raw.Close(); st.Close() })
		return &benchStore{name: which, st: st, raw: raw}
	default:
		dsn := os.Getenv("PARLEY_TEST_POSTGRES")
		if dsn == "" {
			dsn = benchPGDSN
		}
		admin, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatalf("cannot reach PostgreSQL (%v); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", err)
		}
		rb := make([]byte, 6)
		rand.Read(rb)
		schema := "parley_bench_" + hex.EncodeToString(rb)
		if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
			b.Fatal(err)
		}
		u, _ := url.Parse(dsn)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		st, err := postgres.Open(ctx, u.String())
		if err != nil {
			b.Fatal(err)
		}
		pg, err := pgx.Connect(ctx, u.String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			pg.Close(ctx)
			st.Close()
			admin.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`)
			admin.Close(ctx)
		})
		return &benchStore{name: which, st: st, pg: pg}
	}
}

// bulk inserts rows into table, in one transaction (SQLite) or one COPY
// (PostgreSQL).
func (bs *benchStore) bulk(b *testing.B, table string, cols []string, n int, row func(i int) []any) {
	b.Helper()
	ctx := context.Background()
	if bs.pg != nil {
		_, err := bs.pg.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() func() ([]any, error) {
			i := 0
			return func() ([]any, error) {
				if i == n {
					return nil, nil
				}
				i++
				return row(i - 1), nil
			}
		}()))
		if err != nil {
			b.Fatalf("copy into %s: %v", table, err)
		}
		return
	}
	tx, err := bs.raw.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")+`)`)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
			b.Fatalf("insert into %s: %v", table, err)
		}
	}
	stmt.Close()
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// boolean is a flag as each schema stores it (is_primary: BOOLEAN on
// PostgreSQL, 0/1 on SQLite).
func (bs *benchStore) boolean(v bool) any {
	if bs.pg != nil {
		return v
	}
	if v {
		return 1
	}
	return 0
}

func (bs *benchStore) exec(b *testing.B, query string, args ...any) {
	b.Helper()
	ctx := context.Background()
	var err error
	if bs.pg != nil {
		n := 0
		var sb strings.Builder
		for _, r := range query {
			if r == '?' {
				n++
				fmt.Fprintf(&sb, "$%d", n)
				continue
			}
			sb.WriteRune(r)
		}
		_, err = bs.pg.Exec(ctx, sb.String(), args...)
	} else {
		_, err = bs.raw.ExecContext(ctx, query, args...)
	}
	if err != nil {
		b.Fatalf("%s: %v", query, err)
	}
}

// benchService is a Service over a store with the in-process bus.
func benchService(b *testing.B, st store.Store) (*Service, *Fanout, bus.Bus) {
	b.Helper()
	lb := local.New()
	fan := NewFanout(lb, st, nil)
	s, err := New(context.Background(), Config{Store: st, Bus: lb, Fanout: fan})
	if err != nil {
		b.Fatal(err)
	}
	fan.Start()
	b.Cleanup(func() { fan.Stop(); lb.Close() })
	return s, fan, lb
}

var benchOwner = gateway.Identity{AccountID: "acct-bench-owner", DeviceID: "dev-bench-owner"}

// benchChannel creates a channel through the service, with a real key.
func benchChannel(b *testing.B, s *Service, name string) (string, channel.PrivateKey) {
	b.Helper()
	k, _ := channel.GenerateKey(rand.Reader)
	id := channel.ID(k.Public())
	si, err := channel.SignInfo(k, 0, &proto.ChannelInfo{ChannelId: id, Version: 1, Name: name, Category: "news", Listed: true, Reactions: channel.DefaultReactions})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Create(context.Background(), benchOwner, &proto.ChannelCreate{Key: channel.FirstKeyEntry(k), Info: si}); err != nil {
		b.Fatal(err)
	}
	return id, k
}

// seedFollowers makes n followers of ch directly in the store (accounts
// "<prefix>-<i>") and sets the counter as Follow would have.
func seedFollowers(b *testing.B, bs *benchStore, ch, prefix string, n int, at time.Time) {
	b.Helper()
	bs.bulk(b, "channel_followers", []string{"channel_id", "account_id", "muted", "since"}, n, func(i int) []any {
		return []any{ch, fmt.Sprintf("%s-%07d", prefix, i), 0, at.UnixNano()}
	})
	bs.exec(b, `UPDATE channels SET followers = followers + ? WHERE id = ?`, n, ch)
	bs.exec(b, `INSERT INTO channel_days (channel_id, day, follows, unfollows) VALUES (?, ?, ?, 0)`, ch, day(at).UnixNano(), n)
}

// seedDevices makes accounts "<prefix>-<i>" with one device
// "dev-<prefix>-<i>" each.
func seedDevices(b *testing.B, bs *benchStore, prefix string, n int, at time.Time) {
	b.Helper()
	bs.bulk(b, "accounts", []string{"id", "handle", "created_at"}, n, func(i int) []any {
		return []any{fmt.Sprintf("%s-%07d", prefix, i), fmt.Sprintf("@%s%07d", prefix, i), at.UnixNano()}
	})
	bs.bulk(b, "devices", []string{"id", "account_id", "signing_key", "name", "is_primary", "added_at"}, n, func(i int) []any {
		return []any{fmt.Sprintf("dev-%s-%07d", prefix, i), fmt.Sprintf("%s-%07d", prefix, i), []byte("k"), "phone", bs.boolean(true), at.UnixNano()}
	})
}

var benchStores = []string{"sqlite", "postgres"}

// BenchmarkChannelFanout: a channel with 1,000,000 followers, 10,000 of
// them connected to this node. Connections are simulated as 10,000
// subscribers of the bus the gateway uses (the Fanout): each callback is
// what the gateway's connection does with a frame (queue it), here a
// counter. One op is a real ChannelPublish (verify signature, store the
// post with its sequence number) until the last connected follower's
// callback has the event.
func BenchmarkChannelFanout(b *testing.B) {
	for _, which := range benchStores {
		b.Run(which, func(b *testing.B) {
			followers, connected := scaled(1_000_000), scaled(10_000)
			bs := openBench(b, which)
			s, fan, _ := benchService(b, bs.st)
			ch, key := benchChannel(b, s, "Fan-out")
			now := time.Now()
			seedFollowers(b, bs, ch, "acct-f", followers, now)
			seedDevices(b, bs, "acct-f", connected, now)

			var got atomic.Int64
			done := make(chan struct{}, 1)
			target := int64(connected)
			for i := range connected {
				_, err := fan.Subscribe(fmt.Sprintf("dev-acct-f-%07d", i), func(m bus.Message) {
					if got.Add(1) == target {
						done <- struct{}{}
					}
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			tick := time.NewTicker(10 * time.Millisecond)
			deadline := time.After(5 * time.Minute)
			for fan.Members(ch) < connected {
				select {
				case <-tick.C:
				case <-deadline:
					b.Fatalf("index has %d of %d", fan.Members(ch), connected)
				}
			}
			tick.Stop()
			var lat []time.Duration
			b.ResetTimer()
			for b.Loop() {
				got.Store(0)
				p := &proto.Post{ChannelId: ch, PostId: randomID(), Version: 1, Text: "Storm warning: stay indoors"}
				sp, _ := channel.SignPost(key, 0, p)
				start := time.Now()
				if _, err := s.Publish(context.Background(), benchOwner, &proto.ChannelPublish{ChannelId: ch, Post: sp}); err != nil {
					b.Fatal(err)
				}
				select {
				case <-done:
				case <-time.After(time.Minute):
					b.Fatalf("%d of %d notified after a minute", got.Load(), connected)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			report(b, lat)
			b.ReportMetric(float64(followers), "followers")
			b.ReportMetric(float64(connected), "connected")
		})
	}
}

func randomID() []byte {
	id := make([]byte, proto.PostIDBytes)
	rand.Read(id)
	return id
}

// report adds p50 and max of the per-op latencies.
func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkChannelStats: the admin's stats and the follower count of a
// channel with 1,000, 100,000 and 1,000,000 followers (20 posts with
// views and reactions). The counters are maintained on write, so the
// time must not grow with the followers.
func BenchmarkChannelStats(b *testing.B) {
	for _, which := range benchStores {
		b.Run(which, func(b *testing.B) {
			bs := openBench(b, which)
			s, _, _ := benchService(b, bs.st)
			now := time.Now()
			sizes := []int{1_000, 100_000, 1_000_000}
			ids := map[int]string{}
			for _, n := range sizes {
				n = scaled(n)
				ch, key := benchChannel(b, s, fmt.Sprintf("Stats %d", n))
				seedFollowers(b, bs, ch, fmt.Sprintf("acct-s%d", n), n, now)
				for i := range 20 {
					p := &proto.Post{ChannelId: ch, PostId: randomID(), Version: 1, Text: fmt.Sprint("post ", i)}
					sp, _ := channel.SignPost(key, 0, p)
					cp, err := s.Publish(context.Background(), benchOwner, &proto.ChannelPublish{ChannelId: ch, Post: sp})
					if err != nil {
						b.Fatal(err)
					}
					// As if every follower saw it and a tenth reacted.
					bs.exec(b, `UPDATE posts SET views = ?, reacted = ? WHERE channel_id = ? AND post_id = ?`, n, n/10, ch, cp.PostId)
					bs.exec(b, `INSERT INTO post_reaction_counts (channel_id, post_id, emoji, count) VALUES (?, ?, ?, ?)`, ch, cp.PostId, "👍", n/10)
				}
				ids[n] = ch
			}
			for _, n := range sizes {
				n = scaled(n)
				ch := ids[n]
				b.Run(fmt.Sprintf("stats/%d", n), func(b *testing.B) {
					for b.Loop() {
						st, err := s.Stats(context.Background(), benchOwner, &proto.ChannelStats{ChannelId: ch, Days: 30})
						if err != nil || st.Followers != uint64(n) || len(st.Posts) != proto.MaxStatsPosts {
							b.Fatalf("stats: %v %v", st, err)
						}
					}
				})
				b.Run(fmt.Sprintf("followers/%d", n), func(b *testing.B) {
					for b.Loop() {
						c, err := s.Get(context.Background(), benchOwner, &proto.ChannelGet{ChannelId: ch})
						if err != nil || c.Followers != uint64(n) {
							b.Fatalf("get: %v %v", c, err)
						}
					}
				})
			}
		})
	}
}

// benchWords make up directory names: a few common words (in ~1 name of
// 10), many rare ones.
var benchWords = strings.Fields(`city traffic weather news sport club cooking radio council school
	alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa
	quebec romeo sierra tango uniform victor whiskey xray yankee zulu amber birch cedar dune ember fjord
	grove harbor island jasper kestrel lagoon meadow north orchard prairie quarry river summit tundra`)

var benchCountries = []string{"FR", "DE", "ES", "IT", "GB", "US", "NL", "BE", "PL", "PT"}

// BenchmarkChannelDirectory: searches over 100,000 listed channels.
func BenchmarkChannelDirectory(b *testing.B) {
	for _, which := range benchStores {
		b.Run(which, func(b *testing.B) {
			bs := openBench(b, which)
			s, _, _ := benchService(b, bs.st)
			n := scaled(100_000)
			k, _ := channel.GenerateKey(rand.Reader)
			si, _ := channel.SignInfo(k, 0, &proto.ChannelInfo{ChannelId: channel.ID(k.Public()), Version: 1, Name: "x", Category: "news", Listed: true})
			info, _ := gproto.Marshal(si)
			r := mrand.New(mrand.NewPCG(1, 2))
			now := time.Now()
			cols := []string{"id", "info", "info_version", "name", "description", "category", "country", "icon", "listed",
				"owner", "followers", "posts_week", "created_at"}
			bs.bulk(b, "channels", cols, n, func(i int) []any {
				w := func() string { return benchWords[r.IntN(len(benchWords))] }
				name := fmt.Sprintf("%s %s %d", w(), w(), i)
				desc := fmt.Sprintf("The %s and %s of %s, every day", w(), w(), w())
				return []any{fmt.Sprintf("cbench%011d", i), info, 1, name, desc, channel.Categories[r.IntN(len(channel.Categories))],
					benchCountries[r.IntN(len(benchCountries))], "", 1, "acct-o", r.IntN(100_000), r.IntN(50), now.Add(-time.Duration(i) * time.Minute).UnixNano()}
			})
			if bs.pg != nil {
				bs.exec(b, `ANALYZE channels`)
			}
			queries := []struct {
				name string
				q    *proto.ChannelDirectory
			}{
				{"newest", &proto.ChannelDirectory{}},
				{"most-followed", &proto.ChannelDirectory{Sort: proto.DirectorySort_DIRECTORY_SORT_FOLLOWERS}},
				{"most-active", &proto.ChannelDirectory{Sort: proto.DirectorySort_DIRECTORY_SORT_ACTIVE}},
				{"category+country", &proto.ChannelDirectory{Category: "weather", Country: "FR", Sort: proto.DirectorySort_DIRECTORY_SORT_FOLLOWERS}},
				{"text-common", &proto.ChannelDirectory{Query: "weather", Sort: proto.DirectorySort_DIRECTORY_SORT_FOLLOWERS}},
				{"text-prefix", &proto.ChannelDirectory{Query: "wea"}},
				{"text-two-words", &proto.ChannelDirectory{Query: "city traffic", Sort: proto.DirectorySort_DIRECTORY_SORT_ACTIVE}},
				{"text-rare+filters", &proto.ChannelDirectory{Query: "kestrel", Category: "news", Country: "DE"}},
				{"deep-page", &proto.ChannelDirectory{Sort: proto.DirectorySort_DIRECTORY_SORT_FOLLOWERS, Offset: proto.MaxDirectoryOffset}},
			}
			for _, q := range queries {
				b.Run(q.name, func(b *testing.B) {
					var lat []time.Duration
					for b.Loop() {
						start := time.Now()
						res, err := s.Directory(context.Background(), benchOwner, q.q)
						if err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(start))
						if len(res.Channels) == 0 && q.name != "text-rare+filters" && !(q.name == "deep-page" && testing.Short()) {
							b.Fatalf("%s: no result", q.name)
						}
					}
					report(b, lat)
				})
			}
		})
	}
}
