// Package store defines the storage Parley's server needs, as one interface
// with an embedded implementation (store/sqlite, the default) and a
// distributed one (store/postgres). Both pass the same conformance suite,
// store/storetest.
//
// The store keeps only what the server may see: account and device records,
// signed device lists, MLS key packages, group membership and epochs, and
// opaque envelopes (MLS ciphertext) in per-device mailboxes. It never parses
// an envelope. Times are passed in by the caller, whose clock is injected;
// the store never reads the wall clock, so tests control expiry.
//
// Every method is safe for concurrent use. A method that changes several
// records does so in one transaction: either all of it is durable when it
// returns nil, or none of it is.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors a caller can branch on; implementations wrap them with %w.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrHandleTaken   = errors.New("store: handle already taken")
	ErrDuplicate     = errors.New("store: duplicate message id")
	ErrDeviceLimit   = errors.New("store: device limit reached")
	ErrLogConflict   = errors.New("store: key log index already taken")
	ErrNoKeyPackage  = errors.New("store: no key package left")
	ErrInviteInvalid = errors.New("store: invite code unknown, used or expired")
	ErrExpired       = errors.New("store: expired")
	ErrStaleEpoch    = errors.New("store: stale epoch") // see *EpochConflict
	ErrUnavailable   = errors.New("store: unavailable") // retryable: connection lost, database down
	// ErrExists (channels.go) is also returned when a device, or the
	// account its key derives, is already registered, or a live link
	// request holds a code.
)

// Store is everything the server keeps.
type Store interface {
	Directory
	Mailboxes
	Groups
	Social
	Channels // store/channels.go
	// Close releases the store's resources. It is safe to call once.
	Close() error
}

// Account is one person or organisation, known by a unique handle.
type Account struct {
	ID        string
	Handle    string // "@name", unique, stored in its canonical lower-case form
	CreatedAt time.Time
	// Presence is who may see this account's online state and last-seen
	// time: one of the proto.PresenceVisibility values.
	Presence int32
	LastSeen time.Time // zero when never seen
}

// Device is one device of an account, with its own Ed25519 signing key.
type Device struct {
	ID         string // identity.DeviceID(SigningKey)
	AccountID  string
	SigningKey []byte
	Name       string
	Primary    bool
	AddedAt    time.Time
	RevokedAt  time.Time // zero while active
}

// DeviceAuth is the answer of Directory.DeviceAuth.
type DeviceAuth struct {
	Device          Device
	Handle          string // the account's
	KeyPackagesLeft int
	MailboxDepth    int
	LastSeq         uint64
	// InChannels: the account owns, administers or follows a channel (a
	// row in channel_roles or channel_followers). False lets a node's
	// channel index skip reading the account's memberships.
	InChannels bool
}

// Revoked reports whether the device was removed from its account.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// LogEntry is one link of an account's hash-chained key log. Entry is the
// serialized proto.KeyLogEntry exactly as the clients verify it; the store
// keeps it byte for byte.
type LogEntry struct {
	AccountID string
	Index     uint64
	Entry     []byte
}

// LinkRequest is a device waiting to be linked to an account by a code.
type LinkRequest struct {
	Code       string
	DeviceID   string
	SigningKey []byte
	Name       string
	ExpiresAt  time.Time
}

// KeyPackage is one uploaded MLS key package (an MLSMessage the store
// does not parse) and the end of its lifetime, which the directory read
// from it: from NotAfter on it is of no use to anyone, so claims skip and
// delete it. A zero NotAfter means the end is not known (a last-resort
// package stored before lifetimes were recorded); such a package does not
// expire here, and whoever claims it checks its lifetime.
type KeyPackage struct {
	Data     []byte
	NotAfter time.Time
}

// Directory holds accounts, devices, key logs, key packages, invite codes
// and pending device links.
type Directory interface {
	// CreateAccount stores a new account with its primary device and the
	// first key-log entry (index 0). ErrHandleTaken if the handle exists;
	// ErrExists if the account or device id is already registered.
	CreateAccount(ctx context.Context, a Account, primary Device, first LogEntry) error
	// CreateAccountWithInvite is CreateAccount that also consumes a
	// single-use invite code at now, in the same transaction: if the code
	// is unknown, used or expired it returns ErrInviteInvalid and creates
	// nothing, and if the account cannot be created the code stays unused.
	CreateAccountWithInvite(ctx context.Context, a Account, primary Device, first LogEntry, invite string, now time.Time) error
	AccountByID(ctx context.Context, id string) (Account, error)
	AccountByHandle(ctx context.Context, handle string) (Account, error)

	// AddDevice adds a linked device and appends its key-log entry.
	// ErrLogConflict if entry.Index is not the next index; ErrDeviceLimit
	// if the account already has maxDevices active devices; ErrExists if
	// the device id is already registered.
	AddDevice(ctx context.Context, d Device, entry LogEntry, maxDevices int) error
	// RevokeDevice marks the device revoked at `at`, appends the key-log
	// entry, deletes its key packages and mailbox and drops it from every
	// group's membership, all in one transaction.
	RevokeDevice(ctx context.Context, accountID, deviceID string, entry LogEntry, at time.Time) error
	// Device returns a device, revoked or not.
	Device(ctx context.Context, id string) (Device, error)
	// DeviceAuth returns, in one read, what authenticating a device needs:
	// the device (revoked or not), its account's handle, its unexpired
	// one-time key packages (as CountKeyPackages) and its mailbox depth
	// (as MailboxDepth). ErrNotFound if the device is unknown.
	DeviceAuth(ctx context.Context, id string, now time.Time) (DeviceAuth, error)
	// Devices returns the account's active devices, primary first.
	Devices(ctx context.Context, accountID string) ([]Device, error)
	// KeyLog returns the account's entries with Index >= from, in order.
	KeyLog(ctx context.Context, accountID string, from uint64) ([]LogEntry, error)

	// PutKeyPackages first deletes the device's packages that expired by
	// now, then adds one-time key packages and, when lastResort is non-nil,
	// replaces its last-resort package. It keeps at most maxStored one-time
	// packages (extra ones are dropped, oldest kept) and returns how many
	// unexpired one-time packages the device now has.
	PutKeyPackages(ctx context.Context, deviceID string, oneTime []KeyPackage, lastResort *KeyPackage, maxStored int, now time.Time) (int, error)
	// ClaimKeyPackage removes and returns the device's oldest one-time
	// package still valid at now; if none is left it returns the
	// last-resort package (not removed) with lastResort true;
	// ErrNoKeyPackage if there is neither. Packages expired by now, the
	// last-resort one included, are deleted on the way and never returned.
	// Each one-time package is returned at most once, even to concurrent
	// callers.
	ClaimKeyPackage(ctx context.Context, deviceID string, now time.Time) (kp []byte, lastResort bool, err error)
	// CountKeyPackages is the number of one-time packages left that are
	// still valid at now.
	CountKeyPackages(ctx context.Context, deviceID string, now time.Time) (int, error)

	// CreateInvite stores a single-use registration invite code.
	CreateInvite(ctx context.Context, code string, expiresAt time.Time) error
	// UseInvite consumes an invite code at `now`: ErrInviteInvalid if it is
	// unknown, already used or expired.
	UseInvite(ctx context.Context, code string, now time.Time) error

	// PutLinkRequest stores a pending device link under its code,
	// replacing a request under that code that expired before now;
	// ErrExists if a request still valid at now holds the code.
	PutLinkRequest(ctx context.Context, r LinkRequest, now time.Time) error
	// LinkRequest returns the pending link for code; ErrNotFound if unknown,
	// ErrExpired if it expired before now.
	LinkRequest(ctx context.Context, code string, now time.Time) (LinkRequest, error)
	// DeleteLinkRequest removes the pending link (no error if absent).
	DeleteLinkRequest(ctx context.Context, code string) error
}

// Mail is one entry of a device's mailbox. Envelope is an opaque
// serialized proto.Envelope.
type Mail struct {
	DeviceID string
	Seq      uint64 // assigned by the store, strictly increasing per device
	Envelope []byte
	Expires  time.Time
}

// Submission is one accepted message: its deliveries are written together
// or not at all. MessageID is unique per SenderDevice; a submission whose
// id was seen before is rejected with ErrDuplicate and writes nothing.
type Submission struct {
	SenderDevice string
	MessageID    []byte
	Mail         []Mail // DeviceID, Envelope, Expires set by the caller; Seq set by Deliver
	// At is when the server accepted the message: its id counts as seen
	// then (see Mailboxes.Expire). When zero, the store uses the latest
	// Mail.Expires minus proto.MailboxTTL.
	At time.Time
}

// AckUpTo is one Ack of AckAll.
type AckUpTo struct {
	DeviceID string
	UpTo     uint64
}

// Mailboxes are the per-device queues of envelopes.
type Mailboxes interface {
	// Deliver durably writes a batch of submissions in one transaction
	// (group commit), assigning each Mail its Seq in place. The result has
	// one error per submission: nil or ErrDuplicate. The second return is a
	// failure of the whole batch, in which case nothing was written.
	Deliver(ctx context.Context, subs []Submission) ([]error, error)
	// DeliverAndAck is Deliver that also applies acks (as AckAll) in the
	// same transaction, so a batch of Sends and acks costs one disk sync.
	// A failure of the whole batch applies neither.
	DeliverAndAck(ctx context.Context, subs []Submission, acks []AckUpTo) ([]error, error)
	// Fetch returns up to limit unexpired entries of the device's mailbox
	// with Seq > after, in order.
	Fetch(ctx context.Context, deviceID string, after uint64, limit int, now time.Time) ([]Mail, error)
	// Ack deletes the device's entries with Seq <= upTo.
	Ack(ctx context.Context, deviceID string, upTo uint64) error
	// AckAll applies many acks in one transaction (one disk sync for all
	// of them), as if each were an Ack; the same device may appear more
	// than once.
	AckAll(ctx context.Context, acks []AckUpTo) error
	// MailboxDepth is the number of entries waiting for the device, and
	// the highest sequence number assigned to it so far.
	MailboxDepth(ctx context.Context, deviceID string) (n int, lastSeq uint64, err error)
	// Expire deletes entries that expired before now, and message ids seen
	// before idsBefore; it returns how many mailbox entries it deleted.
	Expire(ctx context.Context, now, idsBefore time.Time) (int, error)
}

// Group is the delivery service's view of an MLS group: its epoch and the
// devices that receive its messages. The server never sees its secrets.
type Group struct {
	ID       []byte
	Epoch    uint64
	Kind     int32    // proto.ConversationKind
	Accounts []string // the accounts in the conversation, sorted
	Devices  []string // member device ids, sorted
}

// CommitRecord is one commit to apply atomically: the epoch moves from
// Epoch to Epoch+1, membership changes, and the commit (and welcome) mail
// is delivered, all in one transaction.
type CommitRecord struct {
	GroupID       []byte
	Epoch         uint64 // the epoch the commit was made in
	SenderDevice  string
	MessageID     []byte
	Commit        []byte // kept so a late committer can be told the winner
	GroupInfo     []byte // latest GroupInfo, nil to keep the previous one
	AddDevices    []string
	RemoveDevices []string
	// At epoch 0 the group is created with SenderDevice as its only member
	// (before AddDevices) and these:
	Kind     int32
	Accounts []string
	Mail     []Mail // Seq set in place
	// At is when the server accepted the commit, as Submission.At.
	At time.Time
}

// EpochConflict is returned (wrapping ErrStaleEpoch) when a commit's epoch
// is not the group's current epoch.
type EpochConflict struct {
	Current uint64
	Winning []byte // the commit accepted for the requested epoch, nil if none is kept
}

func (e *EpochConflict) Error() string { return ErrStaleEpoch.Error() }
func (e *EpochConflict) Unwrap() error { return ErrStaleEpoch }

// CommitRepeated is returned (wrapping ErrDuplicate) when a commit's
// message id was already used by the same sender for this very commit:
// the one the group accepted for the record's epoch has the same bytes.
// It is a repeat whose answer was lost, and the answer is that it was
// accepted. A commit older than the kept ones, or an id used by another
// message, is a plain ErrDuplicate.
type CommitRepeated struct {
	Epoch uint64 // the epoch the accepted commit moved the group to
}

func (e *CommitRepeated) Error() string { return ErrDuplicate.Error() + " (the commit was accepted)" }
func (e *CommitRepeated) Unwrap() error { return ErrDuplicate }

// Groups is the MLS delivery service's state.
type Groups interface {
	// ApplyCommit applies c if c.Epoch is the group's current epoch (or the
	// group does not exist and c.Epoch is 0), else returns *EpochConflict.
	// If the sender already used c.MessageID it applies nothing and returns
	// *CommitRepeated when c is the commit accepted for c.Epoch, else
	// ErrDuplicate. ErrNotFound if the group does not exist and c.Epoch is
	// not 0.
	ApplyCommit(ctx context.Context, c CommitRecord) (Group, error)
	// Group returns a group's state.
	Group(ctx context.Context, id []byte) (Group, error)
	// GroupInfo returns the latest GroupInfo stored for the group.
	GroupInfo(ctx context.Context, id []byte) ([]byte, error)
	// GroupsOfDevice lists the ids of the groups the device belongs to.
	GroupsOfDevice(ctx context.Context, deviceID string) ([][]byte, error)
}

// Social holds contacts, blocks and presence.
type Social interface {
	SetContact(ctx context.Context, owner, other string, contact bool) error
	IsContact(ctx context.Context, owner, other string) (bool, error)
	SetBlocked(ctx context.Context, owner, other string, blocked bool) error
	IsBlocked(ctx context.Context, owner, other string) (bool, error)
	SetPresenceVisibility(ctx context.Context, accountID string, v int32) error
	SetLastSeen(ctx context.Context, accountID string, at time.Time) error
	// SetLastSeenAll records many last-seen times in one transaction;
	// unknown accounts are skipped.
	SetLastSeenAll(ctx context.Context, seen []LastSeen) error
}

// LastSeen is one entry of SetLastSeenAll.
type LastSeen struct {
	AccountID string
	At        time.Time
}
