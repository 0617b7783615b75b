package parleytest

import (
	"strings"
	"testing"

	"github.com/parleyhq/parley/client"
)

// A post forwarded into a chat carries the channel's signed post inside
// the chat's encrypted content; the recipient, who does not follow the
// channel, verifies it against the channel's key chain.
func TestChannelForwardIntoChat(t *testing.T) {
	requireMLS(t)
	srv := NewServer(t)
	owner := NewClient(t, srv, "@prefecture")
	alice := NewClient(t, srv, "@alice")
	bob := NewClient(t, srv, "@bob")
	ctx := Ctx(t)
	ch := newChannel(t, owner, "Prefecture")
	follow(t, alice, owner, ch.ID)
	p := post(t, owner, ch.ID, "Heat wave: stay hydrated")
	waitPost(t, alice, "Heat wave: stay hydrated")

	sent, err := alice.ForwardPost(ctx, bob.Handle, ch.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sent.Text, "Heat wave: stay hydrated") || !strings.Contains(sent.Text, ch.ID) {
		t.Fatalf("alice's copy reads %q", sent.Text)
	}
	fe := WaitEvent(t, bob, func(e client.ForwardEvent) bool { return e.ChannelID == ch.ID })
	if fe.Err != nil {
		t.Fatalf("bob could not verify the forwarded post: %v", fe.Err)
	}
	if fe.Channel != "Prefecture" || fe.Post.Text != "Heat wave: stay hydrated" || string(fe.Post.ID) != string(p.ID) {
		t.Fatalf("bob's forward %+v", fe)
	}
	msg := WaitEvent(t, bob, func(e client.MessageEvent) bool { return strings.Contains(e.Message.Text, "Heat wave") })
	if msg.Message.SenderHandle != "@alice" || !strings.HasPrefix(msg.Message.Text, "[forwarded from Prefecture") {
		t.Fatalf("bob's chat shows %+v", msg.Message)
	}
}
