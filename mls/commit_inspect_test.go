package mls

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestInspectCommit(t *testing.T) {
	cl := newTestGroup(t, 1, 3)
	joiner := newClient(t, 1, "joiner")
	commit, welcome, err := cl[0].g.Commit([][]byte{joiner.bundle.Message()}, []uint32{2})
	if err != nil {
		t.Fatal(err)
	}
	s, err := InspectCommit(commit)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.GroupID, []byte("test group")) || s.Epoch != 1 || s.External || s.Sender != 0 ||
		string(s.PathCredential) != "member-0" || len(s.Added) != 1 || string(s.Added[0]) != "joiner" ||
		!slices.Equal(s.Removed, []uint32{2}) || s.Other != 0 || s.References != 0 {
		t.Fatalf("summary %+v", s)
	}
	if !IsWelcome(welcome) || IsWelcome(commit) {
		t.Fatal("IsWelcome")
	}
	cl[0].g.DiscardPendingCommit()

	// A rejoin by external commit: the joiner's credential in the path,
	// the Remove of its old leaf, and the ExternalInit.
	info, err := cl[0].g.GroupInfo()
	if err != nil {
		t.Fatal(err)
	}
	if gid, epoch, err := InspectGroupInfo(info); err != nil || string(gid) != "test group" || epoch != 1 {
		t.Fatalf("InspectGroupInfo = %q %d %v", gid, epoch, err)
	}
	_, ext, err := JoinExternal(info, cl[1].id)
	if err != nil {
		t.Fatal(err)
	}
	s, err = InspectCommit(ext)
	if err != nil {
		t.Fatal(err)
	}
	if !s.External || string(s.PathCredential) != "member-1" || !slices.Equal(s.Removed, []uint32{1}) || s.Other != 1 || len(s.Added) != 0 {
		t.Fatalf("external summary %+v", s)
	}

	// Everything else is refused.
	app, err := cl[0].g.Encrypt([]byte("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, msg := range map[string][]byte{
		"application message": app, "welcome": welcome, "group info": info,
		"key package": joiner.bundle.Message(),
	} {
		if _, err := InspectCommit(msg); !errors.Is(err, ErrWireFormat) {
			t.Errorf("%s: %v, want ErrWireFormat", name, err)
		}
	}
	for _, msg := range [][]byte{nil, []byte("commit"), commit[:len(commit)-1], append(bytes.Clone(commit), 0)} {
		if _, err := InspectCommit(msg); !errors.Is(err, ErrMalformed) {
			t.Errorf("InspectCommit(%d bytes) = %v, want ErrMalformed", len(msg), err)
		}
	}
	if _, _, err := InspectGroupInfo(commit); !errors.Is(err, ErrWireFormat) {
		t.Errorf("InspectGroupInfo(commit) = %v", err)
	}
}

func FuzzInspectCommit(f *testing.F) {
	cl := newTestGroup(f, 1, 2)
	commit, _ := cl[0].g.SelfUpdate()
	f.Add(commit)
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := InspectCommit(msg)
		if err == nil && s == nil {
			t.Fatal("nil summary without error")
		}
	})
}
