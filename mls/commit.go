package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parleyhq/parley/mls/internal/parallel"
	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
)

// ReceivedKeyPackageGrace is how long after its expiry a key package in a
// received Add is still accepted. RFC 9420 §7.3 only recommends checking
// lifetimes of received leaves because a commit may be processed long
// after it was made; a member returning after weeks offline must not fork
// from its group over an Add that was valid when committed. Our own Adds
// (AddMembers) get no grace.
const ReceivedKeyPackageGrace = 30 * 24 * time.Hour

// applied is the outcome of applying a commit's proposals to a copy of the
// tree and GroupContext (RFC 9420 §12.3).
type applied struct {
	tree       *tree.Tree
	extensions tree.Extensions
	addedLeafs []tree.LeafIndex
	addedKPs   []*KeyPackage
	added      []Member
	removed    []Member
	updated    []Member
	psks       []schedule.PreSharedKeyID
	extInit    *ExternalInitProposal
	reinit     *ReInitProposal
	removedMe  bool
}

// commitResult is what a commit changed, reported to the caller.
type commitResult struct {
	sender                  Member
	added, removed, updated []Member
}

// applyOptions says how strictly Adds are checked.
type applyOptions struct {
	now   time.Time
	grace time.Duration // lifetime grace for Adds; 0 for our own commits
	// resumption is the resumption PSK usage (reinit or branch) the
	// commit may carry once: only the commit that starts a group from
	// another one (ReInitGroup, Branch) sets it.
	resumption schedule.ResumptionUsage
}

// applyProposals validates entries and applies them, in the order RFC 9420
// §12.3 prescribes, to a clone of st's tree. st is not modified.
func applyProposals(st *epochState, entries []proposalEntry, committer Sender, opts applyOptions) (*applied, error) {
	if err := validateProposalList(st, entries, committer, opts.resumption); err != nil {
		return nil, err
	}
	a := &applied{tree: st.tree.Clone(), extensions: st.ctx.Extensions}
	groupID := st.ctx.GroupID

	// GroupContextExtensions first: the new extensions govern the
	// checks of every other proposal.
	for _, e := range entries {
		if e.p.Type == tree.ProposalGroupContextExtensions {
			a.extensions = e.p.GroupContextExtensions.Extensions
			if err := checkGroupExtensions(a.extensions); err != nil {
				return nil, err
			}
		}
	}
	required, _, err := a.extensions.RequiredCapabilities()
	if err != nil {
		return nil, fmt.Errorf("%w: required_capabilities: %w", ErrMalformed, err)
	}

	for _, e := range entries {
		if e.p.Type != tree.ProposalUpdate {
			continue
		}
		i := tree.LeafIndex(e.sender.Index)
		old := a.tree.Leaf(i)
		if old == nil {
			return nil, fmt.Errorf("%w: Update from blank leaf %d", ErrNotMember, i)
		}
		l := &e.p.Update.LeafNode
		if err := checkLeaf(st.cs, l, &tree.LeafCheck{GroupID: groupID, Index: i, Source: tree.SourceUpdate, Required: required}, ErrProposalNotAllowed); err != nil {
			return nil, fmt.Errorf("mls: Update from leaf %d: %w", i, err)
		}
		if err := leafCompat(a.tree, l, &i); err != nil {
			return nil, fmt.Errorf("mls: Update from leaf %d: %w", i, err)
		}
		if !l.Credential.Equal(&old.Credential) {
			return nil, fmt.Errorf("%w: Update from leaf %d changes its credential", ErrProposalNotAllowed, i)
		}
		if err := a.tree.UpdateLeaf(i, l); err != nil {
			return nil, err
		}
		a.updated = append(a.updated, memberOf(i, l))
	}

	for _, e := range entries {
		if e.p.Type != tree.ProposalRemove {
			continue
		}
		i := tree.LeafIndex(e.p.Remove.Removed)
		old := a.tree.Leaf(i)
		if old == nil {
			return nil, fmt.Errorf("%w: Remove of blank leaf %d", ErrNotMember, i)
		}
		a.removed = append(a.removed, memberOf(i, old))
		if i == st.own {
			a.removedMe = true
		}
		if err := a.tree.RemoveLeaf(i); err != nil {
			return nil, err
		}
	}

	var adds []*KeyPackage
	for _, e := range entries {
		if e.p.Type == tree.ProposalAdd {
			adds = append(adds, &e.p.Add.KeyPackage)
		}
	}
	if len(adds) > 0 {
		// The signature checks of a mass add dominate its cost and are
		// independent, so they run on every core; the checks against the
		// group then run in order, against an index of the tree.
		err := parallel.Run(len(adds), func(i int) error { return checkKeyPackage(st.cs, adds[i], required, opts) })
		if err != nil {
			return nil, err
		}
		idx := newCompatIndex(a.tree)
		for _, kp := range adds {
			if err := idx.check(&kp.LeafNode); err != nil {
				return nil, fmt.Errorf("mls: Add: %w", err)
			}
			i, err := a.tree.AddLeaf(&kp.LeafNode)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrProposalNotAllowed, err)
			}
			idx.add(&kp.LeafNode)
			a.addedLeafs = append(a.addedLeafs, i)
			a.addedKPs = append(a.addedKPs, kp)
			a.added = append(a.added, memberOf(i, &kp.LeafNode))
		}
	}

	for _, e := range entries {
		switch e.p.Type {
		case tree.ProposalPSK:
			a.psks = append(a.psks, e.p.PreSharedKey.PSK)
		case tree.ProposalExternalInit:
			a.extInit = e.p.ExternalInit
		case tree.ProposalReInit:
			a.reinit = e.p.ReInit
		}
	}

	if required != nil || len(a.extensions) > 0 {
		for i, l := range a.tree.Members() {
			if !l.Capabilities.Satisfies(required) {
				return nil, fmt.Errorf("%w: leaf %d lacks the group's required capabilities", ErrProposalNotAllowed, i)
			}
			for _, x := range a.extensions {
				if !l.Capabilities.SupportsExtension(x.Type) {
					return nil, fmt.Errorf("%w: leaf %d does not support group extension %d", ErrProposalNotAllowed, i, x.Type)
				}
			}
		}
	}
	return a, nil
}

// checkGroupExtensions checks that the group context extensions this
// implementation interprets decode.
func checkGroupExtensions(ext tree.Extensions) error {
	if _, _, err := ext.RequiredCapabilities(); err != nil {
		return fmt.Errorf("%w: required_capabilities: %w", ErrMalformed, err)
	}
	if _, _, err := ext.ExternalSenders(); err != nil {
		return fmt.Errorf("%w: external_senders: %w", ErrMalformed, err)
	}
	if ext.Has(tree.ExtRatchetTree) || ext.Has(tree.ExtExternalPub) {
		return fmt.Errorf("%w: ratchet_tree or external_pub as a group context extension", ErrProposalNotAllowed)
	}
	return nil
}

// checkKeyPackage validates the key package of an Add on its own: with a
// strict lifetime for our own commits, with ReceivedKeyPackageGrace for
// received ones.
func checkKeyPackage(cs *suite.Suite, kp *KeyPackage, required *tree.RequiredCapabilities, opts applyOptions) error {
	if opts.grace == 0 {
		if err := validateKeyPackage(cs, kp, opts.now, required); err != nil {
			return fmt.Errorf("mls: Add: %w", err)
		}
		return nil
	}
	if err := kp.Validate(&KeyPackageCheck{Suite: cs, Required: required}); err != nil {
		return fmt.Errorf("mls: Add: %w", err)
	}
	if !opts.now.IsZero() {
		lt := kp.LeafNode.Lifetime
		t := unixSeconds(opts.now)
		skew := uint64(MaxClockSkew / time.Second)
		if t+skew < lt.NotBefore || (t > lt.NotAfter && t-lt.NotAfter > uint64(opts.grace/time.Second)) {
			return fmt.Errorf("mls: Add: %w: lifetime [%d, %d]", ErrKeyPackageExpired, lt.NotBefore, lt.NotAfter)
		}
	}
	return nil
}

// compatIndex answers Tree.CheckLeafCompat(l, nil) for a batch of Adds in
// constant time per leaf instead of a scan of the tree, and also rejects
// an identity already present (Parley's notion of "the same client",
// RFC 9420 §12.2).
type compatIndex struct {
	sigKeys    map[string]bool
	encKeys    map[string]bool
	identities map[string]bool
	inUse      []tree.CredentialType       // credential types of the members
	supported  map[tree.CredentialType]int // how many members support each type
	members    int
}

func newCompatIndex(t *tree.Tree) *compatIndex {
	idx := &compatIndex{
		sigKeys:    map[string]bool{},
		encKeys:    map[string]bool{},
		identities: map[string]bool{},
		supported:  map[tree.CredentialType]int{},
	}
	for x := range t.Width() {
		if k := t.EncryptionKey(tree.NodeIndex(x)); k != nil {
			idx.encKeys[string(k)] = true
		}
	}
	for _, l := range t.Members() {
		idx.add(l)
	}
	return idx
}

// check fails if l may not join: a key or identity already present, or
// credential types that l and the members do not support mutually.
func (idx *compatIndex) check(l *tree.LeafNode) error {
	if idx.sigKeys[string(l.SignatureKey)] {
		return fmt.Errorf("%w: signature key already in the group", ErrDuplicateMember)
	}
	if idx.encKeys[string(l.EncryptionKey)] {
		return fmt.Errorf("%w: encryption key already in the tree", ErrDuplicateMember)
	}
	if id := credentialIdentity(&l.Credential); id != nil && idx.identities[string(id)] {
		return fmt.Errorf("%w: identity %q already in the group", ErrDuplicateMember, id)
	}
	if idx.supported[l.Credential.Type] != idx.members {
		return fmt.Errorf("%w: credential type %d not supported by every member", ErrProposalNotAllowed, l.Credential.Type)
	}
	for _, ct := range idx.inUse {
		if !l.Capabilities.SupportsCredential(ct) {
			return fmt.Errorf("%w: credential type %d of the group not supported", ErrProposalNotAllowed, ct)
		}
	}
	return nil
}

// add records l as a member.
func (idx *compatIndex) add(l *tree.LeafNode) {
	idx.members++
	idx.sigKeys[string(l.SignatureKey)] = true
	idx.encKeys[string(l.EncryptionKey)] = true
	if id := credentialIdentity(&l.Credential); id != nil {
		idx.identities[string(id)] = true
	}
	if !slices.Contains(idx.inUse, l.Credential.Type) {
		idx.inUse = append(idx.inUse, l.Credential.Type)
	}
	for _, ct := range slices.Compact(slices.Sorted(slices.Values(l.Capabilities.Credentials))) {
		idx.supported[ct]++
	}
}

// checkLeaf is LeafNode.Check with its errors mapped to this package's:
// signature and lifetime failures have their own errors, anything else
// is reported as kind (the error for the place the leaf appears in).
func checkLeaf(cs *suite.Suite, l *tree.LeafNode, c *tree.LeafCheck, kind error) error {
	if err := l.Check(cs, c); err != nil {
		switch {
		case errors.Is(err, tree.ErrInvalidSignature):
			return fmt.Errorf("%w: leaf node: %w", ErrBadSignature, err)
		case errors.Is(err, tree.ErrLifetime):
			return fmt.Errorf("%w: %w", ErrKeyPackageExpired, err)
		}
		return fmt.Errorf("%w: leaf node: %w", kind, err)
	}
	return nil
}

// leafCompat is Tree.CheckLeafCompat with duplicate keys reported as a
// duplicate member.
func leafCompat(t *tree.Tree, l *tree.LeafNode, replacing *tree.LeafIndex) error {
	if err := t.CheckLeafCompat(l, replacing); err != nil {
		if errors.Is(err, tree.ErrDuplicateKey) {
			return fmt.Errorf("%w: %w", ErrDuplicateMember, err)
		}
		return fmt.Errorf("%w: %w", ErrProposalNotAllowed, err)
	}
	return nil
}

// pskSecret resolves the PSKs a commit or Welcome injects and chains them
// (RFC 9420 §8.4). External PSKs come from the group's store, resumption
// PSKs from the history of past epochs (and cur, the epoch the commit is
// sent in, whose resumption_psk the history already holds).
func (g *Group) pskSecret(cs *suite.Suite, groupID []byte, ids []schedule.PreSharedKeyID) (suite.Secret, error) {
	if len(ids) == 0 {
		return suite.Secret{}, nil
	}
	psks := make([]schedule.PSK, len(ids))
	for i := range ids {
		id := &ids[i]
		psks[i].ID = *id
		switch id.Type {
		case schedule.PSKExternal:
			s, ok := g.psks[string(id.ID)]
			if !ok {
				return suite.Secret{}, fmt.Errorf("%w: external PSK %x", ErrMissingPSK, id.ID)
			}
			psks[i].PSK = s
		case schedule.PSKResumption:
			if id.Usage != schedule.ResumptionApplication {
				s, ok := g.linkedPSK(id)
				if !ok {
					return suite.Secret{}, fmt.Errorf("%w: resumption PSK of usage %d, group %x, epoch %d", ErrMissingPSK, id.Usage, id.GroupID, id.Epoch)
				}
				psks[i].PSK = s
				continue
			}
			s, ok := g.resumptionPSK(groupID, id.Epoch)
			if !ok || !bytes.Equal(id.GroupID, groupID) {
				return suite.Secret{}, fmt.Errorf("%w: resumption PSK of epoch %d", ErrMissingPSK, id.Epoch)
			}
			psks[i].PSK = s
		default:
			return suite.Secret{}, fmt.Errorf("%w: PSK type %d", ErrMalformed, id.Type)
		}
	}
	s, err := schedule.PSKSecret(cs, psks)
	if err != nil {
		return suite.Secret{}, fmt.Errorf("%w: %w", ErrProposalNotAllowed, err)
	}
	return s, nil
}

func (g *Group) resumptionPSK(groupID []byte, epoch uint64) (suite.Secret, bool) {
	for _, r := range g.resumption {
		if r.epoch == epoch {
			return r.secret, true
		}
	}
	return suite.Secret{}, false
}

// nextEpoch derives the epoch a commit starts (RFC 9420 §12.4.2 steps
// after the path): the new GroupContext with the updated confirmed
// transcript hash, the key schedule, and the confirmation tag. When
// ac.Auth.ConfirmationTag is empty (we are creating the commit) it is
// filled in; otherwise it is verified (ErrBadConfirmationTag). It returns
// the joiner secret and PSK secret too, for the Welcome.
func nextEpoch(st *epochState, a *applied, ac *AuthenticatedContent, initSecret, commitSecret, pskSecret suite.Secret) (*epochState, suite.Secret, error) {
	cs := st.cs
	next := &epochState{cs: cs, tree: a.tree, own: st.own}
	confirmed := schedule.ConfirmedTranscriptHash(cs, st.interim, ac.ConfirmedTranscriptHashInput())
	next.ctx = GroupContext{
		Version:                 st.ctx.Version,
		CipherSuite:             st.ctx.CipherSuite,
		GroupID:                 st.ctx.GroupID,
		Epoch:                   st.ctx.Epoch + 1,
		TreeHash:                a.tree.TreeHash(),
		ConfirmedTranscriptHash: confirmed,
		Extensions:              a.extensions,
	}
	next.ctxBytes = next.ctx.Encode()
	joiner := schedule.JoinerSecret(cs, initSecret, commitSecret, next.ctxBytes)
	next.keys = schedule.NewEpoch(cs, joiner, pskSecret, next.ctxBytes)
	if len(ac.Auth.ConfirmationTag) == 0 {
		ac.Auth.ConfirmationTag = next.keys.ConfirmationTag(confirmed)
	} else if !next.keys.VerifyConfirmationTag(confirmed, ac.Auth.ConfirmationTag) {
		return nil, suite.Secret{}, ErrBadConfirmationTag
	}
	next.confTag = ac.Auth.ConfirmationTag
	next.interim = schedule.InterimTranscriptHash(cs, confirmed, next.confTag)
	next.secrets = schedule.NewSecretTree(cs, next.keys.Encryption, a.tree.LeafCount())
	return next, joiner, nil
}

// provisionalContext is the GroupContext an UpdatePath is encrypted under
// (RFC 9420 §12.4.1): the new epoch, tree hash and extensions with the old
// confirmed transcript hash.
func provisionalContext(st *epochState, a *applied) []byte {
	gc := GroupContext{
		Version:                 st.ctx.Version,
		CipherSuite:             st.ctx.CipherSuite,
		GroupID:                 st.ctx.GroupID,
		Epoch:                   st.ctx.Epoch + 1,
		TreeHash:                a.tree.TreeHash(),
		ConfirmedTranscriptHash: st.ctx.ConfirmedTranscriptHash,
		Extensions:              a.extensions,
	}
	return gc.Encode()
}
