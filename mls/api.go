// Package mls implements the Messaging Layer Security protocol (RFC 9420)
// for Parley: message framing, key packages, and the group state machine
// the client builds on.
//
// The high-level API is Group: create a group (CreateGroup), add and
// remove members and refresh keys with staged commits (AddMembers,
// RemoveMembers, SelfUpdate, Commit, then MergePendingCommit once the
// delivery service accepted the commit, or DiscardPendingCommit), join
// (JoinFromWelcome, JoinExternal), process incoming messages (Process) and
// encrypt application messages (Encrypt). Every check RFC 9420 requires
// of a receiver is enforced; a message that fails one is rejected with a
// typed error (see errors.go) and leaves the group state unchanged,
// because each incoming message is staged on a copy of the state that
// replaces the current one only when every check passed.
//
// The package is pure: no I/O, no clock (callers pass the time), and
// randomness only from crypto/rand. docs/mls.md is the guide for client
// authors.
package mls
