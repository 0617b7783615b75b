package server_test

import (
	"bytes"
	"testing"

	"github.com/parleyhq/parley/internal/pgtest"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server"
)

// The same server code on the PostgreSQL store: register, converse,
// redeliver, and resolve a commit race.
func TestServerOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
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
