package client

import (
	"errors"
	"time"
)

// This file is the seam between the client and the MLS group layer
// (package mls, see docs/mls.md). Everything the client does with MLS goes
// through groupEngine and mlsGroup, whose methods mirror the mls package's
// API one to one; mlsengine.go adapts *mls.Group to them. Keeping the seam
// this thin means the conversation logic reads like the MLS API and can be
// exercised before and independently of the group layer's internals.

// ErrNoEncryption is returned by every operation that would need MLS
// when the client has no MLS engine. The client never falls back to
// sending plaintext.
var ErrNoEncryption = errors.New("client: end-to-end encryption (MLS) is not available in this build; refusing to send")

// member is one leaf of a group: Parley's MLS credential is the device id.
type member struct {
	Leaf         uint32
	DeviceID     string
	SignatureKey []byte
}

// processedKind mirrors mls.ProcessedKind.
type processedKind int

const (
	processedApplication processedKind = iota + 1
	processedCommit
	processedProposal
)

// processed mirrors mls.Processed.
type processed struct {
	Kind    processedKind
	Data    []byte
	Sender  member
	Added   []member
	Removed []member
	Updated []member
}

// keyPackage is one of our key packages: the public message to upload,
// its reference, and the private bundle to keep.
type keyPackage struct {
	Message []byte
	Ref     []byte
	Bundle  []byte
}

// groupEngine creates and restores groups for this device's identity.
type groupEngine interface {
	// NewKeyPackage makes a key package for this device, valid from now
	// for mls.DefaultKeyPackageLifetime.
	NewKeyPackage(lastResort bool, now time.Time) (keyPackage, error)
	// ParseKeyPackage validates a peer's key package and returns its
	// credential (device id) and signature key.
	ParseKeyPackage(msg []byte, now time.Time) (deviceID string, signatureKey []byte, err error)
	// CreateGroup starts a group with this device as its only member.
	CreateGroup(groupID []byte) (mlsGroup, error)
	// JoinFromWelcome joins with one of our key package bundles.
	JoinFromWelcome(welcome []byte, bundle []byte) (mlsGroup, error)
	// JoinExternal joins (or rejoins, replacing this device's old leaf) a
	// group by external commit from its GroupInfo. The commit is pending;
	// epoch is the one it is made in (the GroupInfo's).
	JoinExternal(groupInfo []byte) (g mlsGroup, commit []byte, epoch uint64, err error)
	// Import restores an exported group state.
	Import(state []byte) (mlsGroup, error)
}

// mlsGroup is the part of *mls.Group the client uses.
type mlsGroup interface {
	GroupID() []byte
	Epoch() uint64
	Members() []member
	Active() bool
	Commit(adds [][]byte, removes []uint32) (commit, welcome []byte, err error)
	MergePendingCommit() error
	DiscardPendingCommit()
	// PendingCommit returns the staged commit and its Welcome.
	PendingCommit() (commit, welcome []byte, ok bool)
	GroupInfo() ([]byte, error)
	Process(msg []byte) (*processed, error)
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Export() ([]byte, error)
}

// noEngine is an engine without MLS: every operation fails with
// ErrNoEncryption. The client never falls back to it on its own; it
// exists so the refusal path stays tested (TestNoEngineRefuses).
type noEngine struct{}

func (noEngine) NewKeyPackage(bool, time.Time) (keyPackage, error) {
	return keyPackage{}, ErrNoEncryption
}
func (noEngine) ParseKeyPackage([]byte, time.Time) (string, []byte, error) {
	return "", nil, ErrNoEncryption
}
func (noEngine) CreateGroup([]byte) (mlsGroup, error)             { return nil, ErrNoEncryption }
func (noEngine) JoinFromWelcome([]byte, []byte) (mlsGroup, error) { return nil, ErrNoEncryption }
func (noEngine) Import([]byte) (mlsGroup, error)                  { return nil, ErrNoEncryption }
func (noEngine) JoinExternal([]byte) (mlsGroup, []byte, uint64, error) {
	return nil, nil, 0, ErrNoEncryption
}
