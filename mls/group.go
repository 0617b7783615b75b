package mls

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// Bounds on what a group keeps.
const (
	// MaxCachedProposals bounds the proposals a group keeps within one
	// epoch, so a flood of proposals cannot grow memory without bound.
	MaxCachedProposals = 1024
	// MaxResumptionPSKs is how many past epochs' resumption PSKs a group
	// keeps for PreSharedKey proposals of type resumption.
	MaxResumptionPSKs = 32
	// MaxPastEpochs is how many previous epochs a group keeps to read
	// application messages that were sent before a commit but arrive
	// after it (RFC 9420 §14 allows this for a short time). Only their
	// sender-data secrets, secret trees and members are kept (also by
	// Export), and only application messages are accepted from them.
	MaxPastEpochs = 2
	// paddingBlock is the multiple to which Encrypt pads the plaintext
	// of a PrivateMessage, hiding exact message lengths.
	paddingBlock = 32
)

// epochState is everything a member knows in one epoch. It is never
// modified once installed in a Group except for the secret tree's
// ratchets (which only move forward) and the proposal cache: a commit
// builds a new epochState and the group swaps it in whole, which is how a
// failed commit leaves the group untouched.
type epochState struct {
	cs        *suite.Suite
	ctx       GroupContext
	ctxBytes  []byte // encoding of ctx, signed over and used as HPKE context
	tree      *tree.Tree
	own       tree.LeafIndex
	priv      *tree.PrivateState
	keys      *schedule.Epoch
	secrets   *schedule.SecretTree
	interim   []byte // interim transcript hash
	confTag   []byte // confirmation tag of the commit that began the epoch
	proposals []cachedProposal
	// reinit is set when the commit that began the epoch carried a
	// ReInit: the group may then no longer be used (RFC 9420 §12.4.2).
	reinit *ReInitProposal
}

// cachedProposal is a proposal received in the current epoch, kept until
// a commit refers to it.
type cachedProposal struct {
	ref      []byte
	proposal *Proposal
	sender   Sender
}

// resumptionPSK is the resumption_psk of one past epoch.
type resumptionPSK struct {
	epoch  uint64
	secret suite.Secret
}

// Group is one member's view of an MLS group. It is not safe for
// concurrent use: the caller serialises operations on one group.
type Group struct {
	st         *epochState // nil until an external join is merged
	signer     *suite.SigningKey
	pending    *pendingCommit
	active     bool
	psks       map[string]suite.Secret // external PSKs by psk_id
	resumption []resumptionPSK         // oldest first, at most MaxResumptionPSKs
	past       []*pastEpoch            // previous epochs, oldest first, at most MaxPastEpochs
	// linked are the resumption PSKs of other groups this group was
	// created from (usage reinit or branch): needed only by the commit
	// or Welcome that starts the group, so not exported.
	linked []linkedPSK
	clock  Clock
}

// pendingCommit is a commit this member created and sent, awaiting the
// delivery service's verdict.
type pendingCommit struct {
	commit  []byte
	welcome []byte
	next    *epochState
	result  *commitResult
}

// GroupOptions are the less common inputs of CreateGroupWith.
type GroupOptions struct {
	// Extensions are the initial GroupContext extensions, e.g. an
	// external_senders extension naming a server allowed to propose
	// (tree.ExternalSendersExtension) or required_capabilities.
	Extensions tree.Extensions
}

// CreateGroup starts a group of one member, id, at epoch 0 (RFC 9420
// §11).
func CreateGroup(groupID []byte, id Identity) (*Group, error) {
	return CreateGroupWith(groupID, id, GroupOptions{})
}

// CreateGroupWith is CreateGroup with options.
func CreateGroupWith(groupID []byte, id Identity, opts GroupOptions) (*Group, error) {
	cs, err := checkIdentity(id)
	if err != nil {
		return nil, err
	}
	if err := checkGroupExtensions(opts.Extensions); err != nil {
		return nil, err
	}
	if len(groupID) == 0 {
		return nil, fmt.Errorf("mls: empty group id")
	}
	encKey, err := cs.GenerateHPKEKey()
	if err != nil {
		return nil, err
	}
	leaf := &tree.LeafNode{
		EncryptionKey: encKey.Public(),
		SignatureKey:  id.SigningKey.Public(),
		Credential:    tree.BasicCredential(bytes.Clone(id.Credential)),
		Capabilities:  capabilitiesFor(id.Suite),
		// A creator's leaf is not from a key package, but RFC 9420 §11
		// describes it as one; a key_package source with an unbounded
		// lifetime never expires in the tree.
		Source:   tree.SourceKeyPackage,
		Lifetime: tree.Lifetime{NotBefore: 0, NotAfter: ^uint64(0)},
	}
	if err := leaf.Sign(cs, id.SigningKey, nil, 0); err != nil {
		return nil, err
	}
	required, _, _ := opts.Extensions.RequiredCapabilities() // decoded by checkGroupExtensions
	for _, x := range opts.Extensions {
		if !leaf.Capabilities.SupportsExtension(x.Type) {
			return nil, fmt.Errorf("%w: group extension %d", ErrUnsupported, x.Type)
		}
	}
	if !leaf.Capabilities.Satisfies(required) {
		return nil, fmt.Errorf("%w: the creator lacks the required capabilities", ErrUnsupported)
	}
	t := tree.New(cs, leaf)
	st := &epochState{
		cs: cs,
		ctx: GroupContext{
			Version:                 tree.MLS10,
			CipherSuite:             id.Suite,
			GroupID:                 bytes.Clone(groupID),
			Epoch:                   0,
			TreeHash:                t.TreeHash(),
			ConfirmedTranscriptHash: []byte{},
			Extensions:              opts.Extensions,
		},
		tree: t,
		own:  0,
		priv: tree.NewPrivateState(0, encKey),
	}
	st.ctxBytes = st.ctx.Encode()
	epochSecret := make([]byte, cs.HashSize())
	if _, err := rand.Read(epochSecret); err != nil {
		return nil, err
	}
	st.keys = schedule.FromEpochSecret(cs, suite.NewSecret(epochSecret))
	clear(epochSecret)
	st.confTag = st.keys.ConfirmationTag(st.ctx.ConfirmedTranscriptHash)
	st.interim = schedule.InterimTranscriptHash(cs, st.ctx.ConfirmedTranscriptHash, st.confTag)
	st.secrets = schedule.NewSecretTree(cs, st.keys.Encryption, t.LeafCount())
	return newGroup(st, id.SigningKey), nil
}

func newGroup(st *epochState, signer *suite.SigningKey) *Group {
	g := &Group{st: st, signer: signer, active: true, psks: map[string]suite.Secret{}}
	g.rememberResumption()
	return g
}

// SetClock replaces the clock the group judges key package lifetimes by
// (time.Now by default).
func (g *Group) SetClock(c Clock) { g.clock = c }

func (g *Group) now() time.Time {
	if g.clock != nil {
		return g.clock()
	}
	return time.Now()
}

// AddExternalPSK makes an external pre-shared key available to commits
// that inject it (PreSharedKey proposals naming psk_id id).
func (g *Group) AddExternalPSK(id []byte, psk suite.Secret) {
	g.psks[string(id)] = suite.NewSecret(psk.Bytes())
}

// rememberResumption records the current epoch's resumption PSK.
func (g *Group) rememberResumption() {
	if g.st == nil {
		return
	}
	g.resumption = append(g.resumption, resumptionPSK{epoch: g.st.ctx.Epoch, secret: g.st.keys.Resumption})
	if over := len(g.resumption) - MaxResumptionPSKs; over > 0 {
		g.resumption = append(g.resumption[:0:0], g.resumption[over:]...)
	}
}

// install makes next the current epoch.
func (g *Group) install(next *epochState) {
	g.rememberPast()
	g.st = next
	g.rememberResumption()
}

// GroupID returns the group's identifier.
func (g *Group) GroupID() []byte {
	if st := g.state(); st != nil {
		return bytes.Clone(st.ctx.GroupID)
	}
	return nil
}

// state returns the current epoch, or for a pending external join the
// epoch it would start.
func (g *Group) state() *epochState {
	if g.st != nil {
		return g.st
	}
	if g.pending != nil {
		return g.pending.next
	}
	return nil
}

// Epoch returns the current epoch number.
func (g *Group) Epoch() uint64 {
	if g.st == nil {
		return 0
	}
	return g.st.ctx.Epoch
}

// Suite returns the group's ciphersuite.
func (g *Group) Suite() suite.ID {
	if st := g.state(); st != nil {
		return st.ctx.CipherSuite
	}
	return 0
}

// OwnLeaf returns this member's leaf index.
func (g *Group) OwnLeaf() uint32 {
	if st := g.state(); st != nil {
		return uint32(st.own)
	}
	return 0
}

// Active reports whether we are still a member: false once a commit
// removed us (and, for an external join, until it is merged).
func (g *Group) Active() bool { return g.active && g.st != nil }

// Members returns the current members in leaf order.
func (g *Group) Members() []Member {
	st := g.state()
	if st == nil {
		return nil
	}
	out := make([]Member, 0, st.tree.LeafCount())
	for i, l := range st.tree.Members() {
		out = append(out, memberOf(i, l))
	}
	return out
}

// Member returns the member at leaf, if any.
func (g *Group) Member(leaf uint32) (Member, bool) {
	st := g.state()
	if st == nil {
		return Member{}, false
	}
	l := st.tree.Leaf(tree.LeafIndex(leaf))
	if l == nil {
		return Member{}, false
	}
	return memberOf(tree.LeafIndex(leaf), l), true
}

func memberOf(i tree.LeafIndex, l *tree.LeafNode) Member {
	return Member{Leaf: uint32(i), Credential: credentialIdentity(&l.Credential), SignatureKey: bytes.Clone(l.SignatureKey)}
}

// EpochAuthenticator returns the epoch_authenticator of the current
// epoch: members comparing it out of band detect a forked group.
func (g *Group) EpochAuthenticator() suite.Secret {
	if g.st == nil {
		return suite.Secret{}
	}
	return suite.NewSecret(g.st.keys.EpochAuthenticator.Bytes())
}

// ExportSecret is MLS-Exporter(label, context, length) of the current
// epoch (RFC 9420 §8.5).
func (g *Group) ExportSecret(label string, context []byte, length int) (suite.Secret, error) {
	if g.st == nil {
		return suite.Secret{}, ErrPendingCommit
	}
	return g.st.keys.Export(label, context, length)
}

// HasPendingCommit reports whether a staged commit awaits
// MergePendingCommit or DiscardPendingCommit.
func (g *Group) HasPendingCommit() bool { return g.pending != nil }

// PendingCommit returns the staged commit and its Welcome (nil without
// adds), so a client can resend them after a restart.
func (g *Group) PendingCommit() (commit, welcome []byte, ok bool) {
	if g.pending == nil {
		return nil, nil, false
	}
	return bytes.Clone(g.pending.commit), bytes.Clone(g.pending.welcome), true
}

// MergePendingCommit applies the staged commit once the delivery service
// accepted it.
func (g *Group) MergePendingCommit() error {
	if g.pending == nil {
		return ErrNoPendingCommit
	}
	p := g.pending
	g.pending = nil
	g.install(p.next)
	g.active = true
	g.linked = nil // only the first commit of a resumed group uses it
	return nil
}

// DiscardPendingCommit drops the staged commit (the delivery service
// preferred another one); the group stays in its current epoch.
func (g *Group) DiscardPendingCommit() { g.pending = nil }
