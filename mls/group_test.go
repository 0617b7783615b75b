package mls

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parleyhq/parley/mls/suite"
)

// testIdentity returns a fresh identity of suite cs named name.
func testIdentity(t testing.TB, cs suite.ID, name string) Identity {
	t.Helper()
	s, err := suite.Get(cs)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := s.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return Identity{Suite: cs, SigningKey: sk, Credential: []byte(name)}
}

// client is a member under test: its identity, its key package and, once
// joined, its group.
type client struct {
	id     Identity
	bundle *KeyPackageBundle
	g      *Group
}

func newClient(t testing.TB, cs suite.ID, name string) *client {
	t.Helper()
	id := testIdentity(t, cs, name)
	b, err := NewKeyPackage(id, KeyPackageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &client{id: id, bundle: b}
}

// newTestGroup creates a group of n members of suite cs: the creator adds
// the others in one commit and they join from the Welcome.
func newTestGroup(t testing.TB, cs suite.ID, n int) []*client {
	t.Helper()
	cl := make([]*client, n)
	for i := range cl {
		cl[i] = newClient(t, cs, fmt.Sprintf("member-%d", i))
	}
	g, err := CreateGroup([]byte("test group"), cl[0].id)
	if err != nil {
		t.Fatal(err)
	}
	cl[0].g = g
	if n == 1 {
		return cl
	}
	var kps [][]byte
	for _, c := range cl[1:] {
		kps = append(kps, c.bundle.Message())
	}
	_, welcome, err := g.AddMembers(kps)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cl[1:] {
		c.g, err = JoinFromWelcome(welcome, []*KeyPackageBundle{c.bundle}, c.id)
		if err != nil {
			t.Fatalf("%s joins: %v", c.id.Credential, err)
		}
	}
	checkAgree(t, cl)
	return cl
}

// checkAgree fails unless every active member is in the same epoch with
// the same epoch authenticator, tree and exporter output.
func checkAgree(t testing.TB, cl []*client) {
	t.Helper()
	var ref *client
	for _, c := range cl {
		if c.g == nil || !c.g.Active() {
			continue
		}
		if ref == nil {
			ref = c
			continue
		}
		if c.g.Epoch() != ref.g.Epoch() {
			t.Fatalf("%s at epoch %d, %s at %d", c.id.Credential, c.g.Epoch(), ref.id.Credential, ref.g.Epoch())
		}
		if !c.g.EpochAuthenticator().Equal(ref.g.EpochAuthenticator()) {
			t.Fatalf("%s and %s disagree on the epoch authenticator", c.id.Credential, ref.id.Credential)
		}
		if !bytes.Equal(c.g.st.tree.TreeHash(), ref.g.st.tree.TreeHash()) {
			t.Fatalf("%s and %s disagree on the tree", c.id.Credential, ref.id.Credential)
		}
	}
}

// commitAll has cl[from] send commit to everyone else (and merge it).
func deliverCommit(t testing.TB, cl []*client, from int, commit []byte) {
	t.Helper()
	if err := cl[from].g.MergePendingCommit(); err != nil {
		t.Fatal(err)
	}
	for i, c := range cl {
		if i == from || c.g == nil || !c.g.Active() {
			continue
		}
		p, err := c.g.Process(commit)
		if err != nil {
			t.Fatalf("%s processes commit of %s: %v", c.id.Credential, cl[from].id.Credential, err)
		}
		if p.Kind != KindCommit {
			t.Fatalf("kind %v", p.Kind)
		}
	}
}

func sendMessage(t testing.TB, cl []*client, from int, text string) {
	t.Helper()
	ct, err := cl[from].g.Encrypt([]byte(text), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cl {
		if i == from || c.g == nil || !c.g.Active() {
			continue
		}
		p, err := c.g.Process(ct)
		if err != nil {
			t.Fatalf("%s decrypts from %s: %v", c.id.Credential, cl[from].id.Credential, err)
		}
		if p.Kind != KindApplication || string(p.Data) != text || string(p.AAD) != "aad" || p.Sender.Leaf != cl[from].g.OwnLeaf() {
			t.Fatalf("got %+v", p)
		}
	}
}

func TestTwoMembers(t *testing.T) {
	for _, cs := range suite.Supported() {
		t.Run(cs.String(), func(t *testing.T) {
			cl := newTestGroup(t, cs, 2)
			sendMessage(t, cl, 0, "hello")
			sendMessage(t, cl, 1, "hi back")
			commit, err := cl[1].g.SelfUpdate()
			if err != nil {
				t.Fatal(err)
			}
			deliverCommit(t, cl, 1, commit)
			checkAgree(t, cl)
			sendMessage(t, cl, 0, "after update")
			if got := len(cl[0].g.Members()); got != 2 {
				t.Fatalf("%d members", got)
			}
		})
	}
}

func TestManyMembers(t *testing.T) {
	cl := newTestGroup(t, 1, 9)
	for i := range cl {
		sendMessage(t, cl, i, fmt.Sprintf("from %d", i))
	}
	// Everyone updates in turn, then someone removes two members.
	for i := range cl {
		commit, err := cl[i].g.SelfUpdate()
		if err != nil {
			t.Fatal(err)
		}
		deliverCommit(t, cl, i, commit)
		checkAgree(t, cl)
	}
	commit, err := cl[3].g.RemoveMembers([]uint32{5, 8})
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 3, commit)
	for _, i := range []int{5, 8} {
		if cl[i].g.Active() {
			t.Fatalf("member %d still active after removal", i)
		}
	}
	checkAgree(t, cl)
	sendMessage(t, cl, 0, "without 5 and 8")
	// The removed members can no longer read.
	ct, err := cl[0].g.Encrypt([]byte("secret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{5, 8} {
		if _, err := cl[i].g.Process(ct); !errors.Is(err, ErrInactive) {
			t.Fatalf("removed member %d: %v", i, err)
		}
	}
	// Add a newcomer into a blank slot.
	nc := newClient(t, 1, "newcomer")
	commit, welcome, err := cl[2].g.AddMembers([][]byte{nc.bundle.Message()})
	if err != nil {
		t.Fatal(err)
	}
	deliverCommit(t, cl, 2, commit)
	nc.g, err = JoinFromWelcome(welcome, []*KeyPackageBundle{nc.bundle}, nc.id)
	if err != nil {
		t.Fatal(err)
	}
	cl = append(cl, nc)
	checkAgree(t, cl)
	sendMessage(t, cl, len(cl)-1, "newcomer speaks")
	sendMessage(t, cl, 1, "welcome")
}

func timeNow() time.Time { return time.Now() }
