package mls

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// Reinitialisation (RFC 9420 §11.2) and subgroup branching (§11.3): a new
// group is started by a commit that adds members and injects a
// resumption PSK of the old group (usage reinit or branch); joiners
// resolve the PSK from their copy of the old group
// (JoinOptions.ResumptionGroups) and check that the new group is what
// that PSK claims it continues.

// errReInitialized is what a frozen group answers to anything but the
// application messages of its final epoch. ErrUnsupported stays in the
// chain for callers of earlier versions.
var errReInitialized = fmt.Errorf("%w (%w)", ErrReInitialized, ErrUnsupported)

// linkedPSK is the resumption PSK of another group that a new group
// injects in its first commit.
type linkedPSK struct {
	usage   schedule.ResumptionUsage
	groupID []byte
	epoch   uint64
	secret  suite.Secret
}

// linkedPSK returns the secret of a resumption PSK of usage reinit or
// branch that this group was started from.
func (g *Group) linkedPSK(id *schedule.PreSharedKeyID) (suite.Secret, bool) {
	for _, l := range g.linked {
		if l.usage == id.Usage && l.epoch == id.Epoch && bytes.Equal(l.groupID, id.GroupID) {
			return l.secret, true
		}
	}
	return suite.Secret{}, false
}

// ReInit describes a committed reinitialisation: the parameters of the
// new group (the ReInit proposal) and the old group's final epoch, whose
// resumption PSK links the two.
type ReInit struct {
	ReInitProposal
	// OldGroupID and Epoch name the old group's final epoch, the one the
	// commit carrying the ReInit started.
	OldGroupID []byte
	Epoch      uint64
	// ResumptionPSK is that epoch's resumption_psk. ReInitGroup and
	// JoinOptions.ResumptionGroups use it; it is exposed for
	// applications that recreate the group by other means.
	ResumptionPSK suite.Secret
}

// CommitReInit commits a ReInit proposal (alone, as RFC 9420 §12.2
// requires) asking to recreate the group as p describes: a new group id,
// cipher suite and GroupContext extensions (Version 0 means mls10, the
// only version implemented; CipherSuite 0 keeps the group's). The commit
// is staged like any other; once merged (or, for the other members,
// processed) the group is frozen (ErrReInitialized) and ReInitPending
// reports the parameters, and any member recreates the group with
// ReInitGroup.
func (g *Group) CommitReInit(p ReInitProposal) (commit []byte, err error) {
	st, err := g.ready()
	if err != nil {
		return nil, err
	}
	r := ReInitProposal{GroupID: bytes.Clone(p.GroupID), Version: p.Version, CipherSuite: p.CipherSuite, Extensions: p.Extensions}
	if r.Version == 0 {
		r.Version = tree.MLS10
	}
	if r.CipherSuite == 0 {
		r.CipherSuite = st.ctx.CipherSuite
	}
	if len(r.GroupID) == 0 {
		return nil, fmt.Errorf("mls: ReInit with an empty group id")
	}
	if r.Version != tree.MLS10 {
		return nil, fmt.Errorf("%w: ReInit to protocol version %d", ErrUnsupported, r.Version)
	}
	if _, err := suite.Get(r.CipherSuite); err != nil {
		return nil, fmt.Errorf("%w: ReInit to suite %v: %w", ErrUnsupported, r.CipherSuite, err)
	}
	if err := checkGroupExtensions(r.Extensions); err != nil {
		return nil, err
	}
	own := MemberSender(uint32(st.own))
	pc, err := g.createCommit(st, []proposalEntry{{p: &Proposal{Type: tree.ProposalReInit, ReInit: &r}, sender: own}})
	if err != nil {
		return nil, err
	}
	g.pending = pc
	return bytes.Clone(pc.commit), nil
}

// ReInitPending reports whether a ReInit was committed in the group's
// last commit, and if so its parameters and the final epoch's
// resumption PSK. The group itself stays frozen: it reads the
// application messages of its final epoch (and of MaxPastEpochs before)
// but sends nothing and accepts no proposal or commit.
func (g *Group) ReInitPending() (*ReInit, bool) {
	if g.st == nil || g.st.reinit == nil {
		return nil, false
	}
	st := g.st
	r := st.reinit
	return &ReInit{
		ReInitProposal: ReInitProposal{GroupID: bytes.Clone(r.GroupID), Version: r.Version, CipherSuite: r.CipherSuite, Extensions: r.Extensions},
		OldGroupID:     bytes.Clone(st.ctx.GroupID),
		Epoch:          st.ctx.Epoch,
		ResumptionPSK:  suite.NewSecret(st.keys.Resumption.Bytes()),
	}, true
}

// ReInitGroup recreates a reinitialised group (RFC 9420 §11.2 step 3):
// it creates the group the committed ReInit describes, with id (whose
// suite must be the ReInit's) as its first member, and stages its first
// commit, which adds the clients of keyPackages (new key packages, in the
// new suite, of the old group's other members) and injects the old
// group's final resumption PSK with usage reinit. Submit commit to the
// delivery service under the new group id (so that two members
// recreating the group at once are ordered like any commit race); on
// acceptance call ng.MergePendingCommit and send welcome, which the others
// join with JoinFromWelcomeWith and this group in
// JoinOptions.ResumptionGroups. The old group is not modified.
func (g *Group) ReInitGroup(id Identity, keyPackages [][]byte) (ng *Group, commit, welcome []byte, err error) {
	r, ok := g.ReInitPending()
	if !ok || !g.active {
		return nil, nil, nil, fmt.Errorf("mls: ReInitGroup: no ReInit was committed in this group")
	}
	if r.Version != tree.MLS10 {
		return nil, nil, nil, fmt.Errorf("%w: ReInit to protocol version %d", ErrUnsupported, r.Version)
	}
	if id.Suite != r.CipherSuite {
		return nil, nil, nil, fmt.Errorf("mls: ReInitGroup: identity of suite %v for a ReInit to suite %v", id.Suite, r.CipherSuite)
	}
	ng, err = CreateGroupWith(r.GroupID, id, GroupOptions{Extensions: r.Extensions})
	if err != nil {
		return nil, nil, nil, err
	}
	link := linkedPSK{usage: schedule.ResumptionReInit, groupID: r.OldGroupID, epoch: r.Epoch, secret: r.ResumptionPSK}
	return g.startLinked(ng, link, keyPackages)
}

// Branch starts a subgroup of this group's members (RFC 9420 §11.3) with
// the same version, suite and GroupContext extensions, under a new group
// id: the first commit adds the clients of keyPackages (fresh key
// packages of current members) and injects this epoch's resumption PSK
// with usage branch. The new group's first member is us, with our
// signing key and credential. As with ReInitGroup, submit commit, merge,
// then send welcome; joiners pass this group in
// JoinOptions.ResumptionGroups. This group is not modified.
func (g *Group) Branch(newGroupID []byte, keyPackages [][]byte) (ng *Group, commit, welcome []byte, err error) {
	if !g.Active() {
		return nil, nil, nil, ErrInactive
	}
	st := g.st
	if bytes.Equal(newGroupID, st.ctx.GroupID) {
		return nil, nil, nil, fmt.Errorf("mls: Branch: the subgroup needs a group id of its own")
	}
	id := Identity{Suite: st.ctx.CipherSuite, SigningKey: g.signer, Credential: credentialIdentity(&st.tree.Leaf(st.own).Credential)}
	ng, err = CreateGroupWith(newGroupID, id, GroupOptions{Extensions: st.ctx.Extensions})
	if err != nil {
		return nil, nil, nil, err
	}
	link := linkedPSK{usage: schedule.ResumptionBranch, groupID: bytes.Clone(st.ctx.GroupID), epoch: st.ctx.Epoch, secret: suite.NewSecret(st.keys.Resumption.Bytes())}
	return g.startLinked(ng, link, keyPackages)
}

// startLinked stages ng's first commit: Adds of keyPackages, whose
// clients must be members of g, and a PreSharedKey proposal of link.
func (g *Group) startLinked(ng *Group, link linkedPSK, keyPackages [][]byte) (*Group, []byte, []byte, error) {
	if len(keyPackages) == 0 {
		return nil, nil, nil, fmt.Errorf("mls: a resumed group needs members to add")
	}
	ng.clock = g.clock
	ng.linked = []linkedPSK{link}
	st := ng.st
	own := MemberSender(uint32(st.own))
	members := identitiesOf(g.st.tree)
	var entries []proposalEntry
	for _, msg := range keyPackages {
		m, err := DecodeMLSMessage(msg)
		if err != nil {
			return nil, nil, nil, err
		}
		if m.WireFormat != WireKeyPackage {
			return nil, nil, nil, fmt.Errorf("%w: %v where a key package was expected", ErrWireFormat, m.WireFormat)
		}
		if !members[string(credentialIdentity(&m.KeyPackage.LeafNode.Credential))] {
			return nil, nil, nil, fmt.Errorf("%w: key package of %q, not a member of the old group", ErrNotMember, credentialIdentity(&m.KeyPackage.LeafNode.Credential))
		}
		entries = append(entries, proposalEntry{p: &Proposal{Type: tree.ProposalAdd, Add: &AddProposal{KeyPackage: *m.KeyPackage}}, sender: own})
	}
	nonce := make([]byte, st.cs.HashSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, nil, err
	}
	psk := schedule.PreSharedKeyID{Type: schedule.PSKResumption, Usage: link.usage, GroupID: link.groupID, Epoch: link.epoch, Nonce: nonce}
	entries = append(entries, proposalEntry{p: &Proposal{Type: tree.ProposalPSK, PreSharedKey: &PreSharedKeyProposal{PSK: psk}}, sender: own})
	p, err := ng.createCommitWith(st, entries, link.usage)
	if err != nil {
		return nil, nil, nil, err
	}
	ng.pending = p
	return ng, bytes.Clone(p.commit), bytes.Clone(p.welcome), nil
}

// identitiesOf returns the credential identities of t's members.
func identitiesOf(t *tree.Tree) map[string]bool {
	out := map[string]bool{}
	for _, l := range t.Members() {
		out[string(credentialIdentity(&l.Credential))] = true
	}
	return out
}

// welcomeLink is a Welcome's resumption PSK of usage reinit or branch,
// resolved against the old group it names.
type welcomeLink struct {
	psk linkedPSK
	old *epochState
}

// resolveWelcomeLink finds the one resumption PSK of usage reinit or
// branch among a Welcome's PSKs, if any, in the groups the joiner holds
// (RFC 9420 §12.4.3.1): a missing group is ErrMissingPSK; a second such
// PSK, a reinit PSK of a group without a committed ReInit or of an epoch
// other than the final one, ErrResumptionMismatch.
func resolveWelcomeLink(ids []schedule.PreSharedKeyID, groups []*Group) (*welcomeLink, error) {
	var id *schedule.PreSharedKeyID
	for i := range ids {
		if ids[i].Type != schedule.PSKResumption || ids[i].Usage == schedule.ResumptionApplication {
			continue
		}
		if id != nil {
			return nil, fmt.Errorf("%w: more than one resumption PSK of usage reinit or branch", ErrResumptionMismatch)
		}
		id = &ids[i]
	}
	if id == nil {
		return nil, nil
	}
	var old *Group
	for _, g := range groups {
		if g != nil && g.st != nil && bytes.Equal(g.st.ctx.GroupID, id.GroupID) {
			old = g
			break
		}
	}
	if old == nil {
		return nil, fmt.Errorf("%w: resumption PSK of group %x (pass the group in JoinOptions.ResumptionGroups)", ErrMissingPSK, id.GroupID)
	}
	st := old.st
	l := &welcomeLink{psk: linkedPSK{usage: id.Usage, groupID: bytes.Clone(id.GroupID), epoch: id.Epoch}, old: st}
	switch id.Usage {
	case schedule.ResumptionReInit:
		if st.reinit == nil {
			return nil, fmt.Errorf("%w: reinit PSK of group %x, which has no committed ReInit", ErrResumptionMismatch, id.GroupID)
		}
		if id.Epoch != st.ctx.Epoch {
			return nil, fmt.Errorf("%w: reinit PSK of epoch %d, the old group's final epoch is %d", ErrResumptionMismatch, id.Epoch, st.ctx.Epoch)
		}
		l.psk.secret = suite.NewSecret(st.keys.Resumption.Bytes())
	case schedule.ResumptionBranch:
		s, ok := old.resumptionPSK(id.GroupID, id.Epoch)
		if !ok {
			return nil, fmt.Errorf("%w: branch PSK of group %x epoch %d", ErrMissingPSK, id.GroupID, id.Epoch)
		}
		l.psk.secret = suite.NewSecret(s.Bytes())
	default:
		return nil, fmt.Errorf("%w: resumption PSK of usage %d", ErrMalformed, id.Usage)
	}
	return l, nil
}

// check verifies that the joined group is what the link claims it
// continues (RFC 9420 §11.2, §11.3): epoch 1, and for reinit the ReInit's
// group id, version, suite and extensions; for branch the old group's
// version and suite, another group id, and members all present in the old
// group (matched by credential identity, against the old group as we hold
// it).
func (l *welcomeLink) check(gc *GroupContext, t *tree.Tree) error {
	if gc.Epoch != 1 {
		return fmt.Errorf("%w: resumed group at epoch %d, not 1", ErrResumptionMismatch, gc.Epoch)
	}
	old := l.old
	switch l.psk.usage {
	case schedule.ResumptionReInit:
		r := old.reinit
		if !bytes.Equal(gc.GroupID, r.GroupID) || gc.Version != r.Version || gc.CipherSuite != r.CipherSuite ||
			!bytes.Equal(codec.Marshal(&gc.Extensions), codec.Marshal(&r.Extensions)) {
			return fmt.Errorf("%w: the new group's parameters are not the ReInit's", ErrResumptionMismatch)
		}
	case schedule.ResumptionBranch:
		if gc.Version != old.ctx.Version || gc.CipherSuite != old.ctx.CipherSuite {
			return fmt.Errorf("%w: branch to another version or suite", ErrResumptionMismatch)
		}
		if bytes.Equal(gc.GroupID, old.ctx.GroupID) {
			return fmt.Errorf("%w: branch under the old group's id", ErrResumptionMismatch)
		}
		members := identitiesOf(old.tree)
		for i, lf := range t.Members() {
			if !members[string(credentialIdentity(&lf.Credential))] {
				return fmt.Errorf("%w: leaf %d of the branch is not a member of the old group", ErrResumptionMismatch, i)
			}
		}
	}
	return nil
}
