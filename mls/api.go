// Package mls implements the Messaging Layer Security protocol (RFC 9420)
// for Parley: message framing, key packages, and the group state machine
// the client builds on.
//
// The high-level API is Group: create a group (CreateGroup), add and
// remove members and refresh keys with staged commits (AddMembers,
// RemoveMembers, SelfUpdate, Commit, then MergePendingCommit once the
// delivery service accepted the commit, or DiscardPendingCommit), join
// (JoinFromWelcome, JoinExternal), process incoming messages (Process) and
// encrypt application messages (Encrypt), and move to a new group by
// reinitialisation or branching (CommitReInit, ReInitGroup, Branch;
// JoinOptions.ResumptionGroups). Every check RFC 9420 requires
// of a receiver is enforced; a message that fails one is rejected with a
// typed error (see errors.go) and leaves the group state unchanged,
// because each incoming message is staged on a copy of the state that
// replaces the current one only when every check passed.
//
// The package is pure: no I/O, and randomness only from crypto/rand. Time
// is read only to judge key package lifetimes, and callers can inject it
// (ParseKeyPackage takes it, KeyPackageOptions.Now and Group.SetClock set
// it); where they do not, it is time.Now. docs/mls.md is the guide for
// client authors.
package mls

import (
	"time"

	"github.com/parleyhq/parley/mls/suite"
)

// Identity is what a member signs with. Credential is the identity of a
// BasicCredential: Parley uses the device id, UTF-8.
type Identity struct {
	Suite      suite.ID
	SigningKey *suite.SigningKey
	Credential []byte
}

// Member is one occupied leaf of the group's ratchet tree.
type Member struct {
	Leaf         uint32
	Credential   []byte // basic credential identity
	SignatureKey []byte
}

// ProcessedKind says what Process found in a message.
type ProcessedKind uint8

// The kinds of processed messages. (They carry a Kind prefix because
// Commit and Proposal name the message structures of this package.)
const (
	// KindApplication is application data, in Processed.Data.
	KindApplication ProcessedKind = iota + 1
	// KindCommit is a commit that advanced the group to a new epoch (or
	// removed us: then Group.Active is false).
	KindCommit
	// KindProposal is a proposal, cached until a commit covers it.
	KindProposal
)

func (k ProcessedKind) String() string {
	switch k {
	case KindApplication:
		return "application"
	case KindCommit:
		return "commit"
	case KindProposal:
		return "proposal"
	}
	return "unknown"
}

// Processed is the outcome of Group.Process.
type Processed struct {
	Kind   ProcessedKind
	Data   []byte // application plaintext
	AAD    []byte // the message's authenticated_data
	Sender Member // for a new-member commit, the joiner at its new leaf
	// For a commit: the members it added, removed (possibly including us)
	// and those whose leaf it replaced (by an Update proposal or by the
	// committer's own path). Removed members carry their old leaf.
	Added   []Member
	Removed []Member
	Updated []Member
	// Epoch is the group's epoch after the message.
	Epoch uint64
}

// Clock returns the current time. Groups use it for key package
// lifetimes; tests inject a fixed one.
type Clock func() time.Time
