package schedule

import (
	"bytes"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

func TestSecretTreeStateAndClone(t *testing.T) {
	a := newTree(t, 6)
	if _, err := a.Get(2, Application, 5); err != nil { // skips 0..4
		t.Fatal(err)
	}
	if _, err := a.Get(4, Handshake, 0); err != nil {
		t.Fatal(err)
	}
	c := a.Clone()
	var w codec.Writer
	a.MarshalState(&w)
	b, err := UnmarshalSecretTree(a.s, codec.NewReader(w.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var w2 codec.Writer
	b.MarshalState(&w2)
	if !bytes.Equal(w.Bytes(), w2.Bytes()) {
		t.Fatal("state does not round-trip")
	}
	// Advancing the original must not disturb the clone or the copy.
	k1, err := a.Get(2, Application, 3)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := a.Next(5, Handshake)
	for _, other := range []*SecretTree{b, c} {
		k2, err := other.Get(2, Application, 3)
		if err != nil || !k1.Key.Equal(k2.Key) {
			t.Fatalf("copy diverged: %v", err)
		}
		if _, err := other.Get(2, Application, 5); err == nil {
			t.Fatal("consumed generation available in copy")
		}
		y, _ := other.Next(5, Handshake)
		if !x.Key.Equal(y.Key) {
			t.Fatal("fresh leaf differs in copy")
		}
	}
}

func TestEpochState(t *testing.T) {
	s, _ := suite.Get(3)
	e := FromEpochSecret(s, s.Zero())
	var w codec.Writer
	e.MarshalState(&w)
	got, err := UnmarshalEpoch(codec.NewReader(w.Bytes()))
	if err != nil || !got.Init.Equal(e.Init) || !got.Membership.Equal(e.Membership) {
		t.Fatalf("epoch state: %v", err)
	}
}

func FuzzSecretTreeState(f *testing.F) {
	s, _ := suite.Get(1)
	tr := NewSecretTree(s, s.Zero(), 3)
	tr.Get(1, Application, 3)
	var w codec.Writer
	tr.MarshalState(&w)
	f.Add(w.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		r := codec.NewReader(in)
		tr, err := UnmarshalSecretTree(s, r)
		if err != nil || r.Finish() != nil {
			return
		}
		var w codec.Writer
		tr.MarshalState(&w)
		if !bytes.Equal(w.Bytes(), in) {
			t.Fatalf("state re-encodes differently")
		}
		tr.Next(0, Handshake) // must not panic
	})
}

func FuzzPreSharedKeyID(f *testing.F) {
	f.Add([]byte{1, 2, 'i', 'd', 2, 'n', 'n'})
	f.Add([]byte{2, 1, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 7, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var id PreSharedKeyID
		if codec.Unmarshal(in, &id) != nil {
			return
		}
		if !bytes.Equal(codec.Marshal(&id), in) {
			t.Fatalf("PreSharedKeyID re-encodes differently")
		}
	})
}
