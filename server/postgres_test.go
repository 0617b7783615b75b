package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

const defaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// postgresDSN creates a fresh schema in the test database, dropped at
// cleanup, and returns a DSN using it. It fails (never skips) when
// PostgreSQL is not there.
func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("PARLEY_TEST_POSTGRES")
	if dsn == "" {
		dsn = defaultPostgres
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("cannot reach the test PostgreSQL (%v).\nStart it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\nor set PARLEY_TEST_POSTGRES (default %s).", err, defaultPostgres)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "parley_server_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("PARLEY_TEST_POSTGRES must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// The same server code on the PostgreSQL store: register, converse,
// redeliver, and resolve a commit race.
func TestServerOnPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	ts := startServer(t, func(c *server.Config) { c.PostgresDSN = dsn })
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	gid := directGroup(t, alice, bob, bob)
	if _, env := bob.envelope(); env.Kind != proto.EnvelopeKind_WELCOME {
		t.Fatalf("bob got %v, want the welcome", env)
	}
	id := randomID(t)
	alice.mustCall(sendReq(gid, id, "over postgres"))
	alice.expectCode(sendReq(gid, id, "over postgres"), proto.Code_DUPLICATE)
	if _, env := bob.envelope(); !bytes.Equal(env.MessageId, id) {
		t.Fatalf("bob got %v", env)
	}
	again := bob.reconnect(ts)
	again.envelope() // the welcome, unacked
	seq, env := again.envelope()
	if !bytes.Equal(env.MessageId, id) {
		t.Fatalf("redelivered %v", env)
	}
	ack(again, seq)

	winner := alice.commitReq(gid, 1, nil)
	alice.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: winner}})
	r := again.expectCode(&proto.Request{Body: &proto.Request_Commit{Commit: again.commitReq(gid, 1, nil)}}, proto.Code_CONFLICT)
	if !bytes.Equal(r.GetConflict().GetWinningCommit(), winner.Commit) {
		t.Fatalf("conflict %v", r.GetConflict())
	}
}
