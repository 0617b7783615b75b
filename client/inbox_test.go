package client

import (
	"errors"
	"testing"

	"github.com/parleyhq/parley/client/profile"
)

// stubGroup is an MLS group whose Process returns what a test says;
// every other method panics (the embedded nil interface).
type stubGroup struct {
	mlsGroup
	p   *processed
	err error
}

func (s *stubGroup) Process([]byte) (*processed, error) { return s.p, s.err }

// TestApplyCommitChecks: what arrives as a commit must be one, from the
// device the server names; only a commit that does not process at all is
// a reason to rejoin the group.
func TestApplyCommitChecks(t *testing.T) {
	c := newOffline(t)
	conv := profile.Conversation{GroupID: []byte("g"), PeerAccount: "acc", PeerHandle: "@bob"}
	sender := member{Leaf: 1, DeviceID: "dbob", SignatureKey: []byte("key")}
	broken := errors.New("mls: bad signature")
	for _, tc := range []struct {
		name   string
		g      *stubGroup
		resync bool
	}{
		{"a proposal in a commit envelope", &stubGroup{p: &processed{Kind: processedProposal, Sender: sender}}, false},
		{"an application message in a commit envelope", &stubGroup{p: &processed{Kind: processedApplication, Sender: sender}}, false},
		{"a commit from another device than the server says", &stubGroup{p: &processed{Kind: processedCommit,
			Sender: member{Leaf: 2, DeviceID: "dother"}}}, false},
		{"a commit that does not process", &stubGroup{err: broken}, true},
	} {
		_, err := c.applyCommit(t.Context(), conv, tc.g, []byte("payload"), "dbob")
		var ce *commitError
		if !errors.As(err, &ce) || ce.resync != tc.resync {
			t.Errorf("%s: %v (resync %v), want a commitError with resync %v", tc.name, err, ce != nil && ce.resync, tc.resync)
		}
	}
}
