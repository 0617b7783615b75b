package mls

import (
	"bytes"
	"testing"
)

// The group layer's decoders: Process (every incoming message), Import
// (persisted state), UnmarshalKeyPackageBundle and JoinFromWelcome. Seeds
// are made here from a live group (f.Add), plus any corpus under
// testdata/fuzz/<target>/.

// fuzzGroup is a three-member group and some genuine messages of it.
type fuzzGroup struct {
	cl                   []*client
	app, commit, welcome []byte
	joiner               *client
	state                []byte
}

func newFuzzGroup(f *testing.F) *fuzzGroup {
	cl := newTestGroup(f, 1, 3)
	fg := &fuzzGroup{cl: cl}
	var err error
	if fg.app, err = cl[0].g.Encrypt([]byte("fuzz"), []byte("aad")); err != nil {
		f.Fatal(err)
	}
	fg.joiner = newClient(f, 1, "joiner")
	if fg.commit, fg.welcome, err = cl[0].g.AddMembers([][]byte{fg.joiner.bundle.Message()}); err != nil {
		f.Fatal(err)
	}
	cl[0].g.DiscardPendingCommit()
	if fg.state, err = cl[1].g.Export(); err != nil {
		f.Fatal(err)
	}
	return fg
}

func FuzzProcess(f *testing.F) {
	fg := newFuzzGroup(f)
	f.Add(fg.app)
	f.Add(fg.commit)
	f.Add(fg.welcome)
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Import(fg.state)
		if err != nil {
			t.Fatal(err)
		}
		auth := g.EpochAuthenticator()
		members := len(g.Members())
		if _, err := g.Process(in); err != nil {
			if g.Epoch() != 1 || !g.EpochAuthenticator().Equal(auth) || len(g.Members()) != members || !g.Active() {
				t.Fatalf("rejected message changed the group: %v", err)
			}
		}
	})
}

func FuzzImport(f *testing.F) {
	fg := newFuzzGroup(f)
	f.Add(fg.state)
	if _, err := fg.cl[2].g.SelfUpdate(); err != nil {
		f.Fatal(err)
	}
	withPending, err := fg.cl[2].g.Export()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withPending)
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := Import(in)
		if err != nil {
			return
		}
		// An accepted state exports to a canonical form that imports to
		// the same state again.
		out, err := g.Export()
		if err != nil {
			t.Fatal(err)
		}
		g2, err := Import(out)
		if err != nil {
			t.Fatalf("re-import: %v", err)
		}
		out2, _ := g2.Export()
		if !bytes.Equal(out, out2) {
			t.Fatal("export is not stable")
		}
	})
}

func FuzzKeyPackageBundle(f *testing.F) {
	f.Add(newClient(f, 1, "a").bundle.Marshal())
	f.Add(newClient(f, 2, "b").bundle.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := UnmarshalKeyPackageBundle(in)
		if err != nil {
			return
		}
		b2, err := UnmarshalKeyPackageBundle(b.Marshal())
		if err != nil || !bytes.Equal(b2.Ref(), b.Ref()) {
			t.Fatalf("bundle does not round-trip: %v", err)
		}
	})
}

func FuzzJoinFromWelcome(f *testing.F) {
	fg := newFuzzGroup(f)
	f.Add(fg.welcome)
	j := fg.joiner
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := JoinFromWelcome(in, []*KeyPackageBundle{j.bundle}, j.id)
		if err == nil && (g.Epoch() != 2 || len(g.Members()) != 4) {
			t.Fatalf("joined a group at epoch %d with %d members", g.Epoch(), len(g.Members()))
		}
	})
}
