package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/mls/schedule"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
	"github.com/parleyhq/parley/mls/treemath"
)

// ExternalPSK is a pre-shared key provisioned outside MLS.
type ExternalPSK struct {
	ID  []byte
	PSK suite.Secret
}

// JoinOptions are the less common inputs of a join.
type JoinOptions struct {
	// RatchetTree is the group's ratchet tree (optional<Node>
	// ratchet_tree<V>) when the GroupInfo does not carry it in a
	// ratchet_tree extension. It is verified against the tree hash.
	RatchetTree []byte
	// PSKs are external pre-shared keys the Welcome may name.
	PSKs []ExternalPSK
	// Clock judges key package lifetimes later on; nil means time.Now.
	Clock Clock
	// ResumptionGroups are groups the joiner holds that the Welcome may
	// continue: the old group of a reinitialisation (RFC 9420 §11.2) or
	// the group a subgroup branched from (§11.3). A Welcome injecting a
	// resumption PSK of usage reinit or branch is refused with
	// ErrMissingPSK unless the group it names is here. They are only
	// read.
	ResumptionGroups []*Group
}

// JoinFromWelcome joins a group from a Welcome addressed to one of
// bundles (found by KeyPackageRef). The ratchet tree comes from the
// GroupInfo's ratchet_tree extension.
func JoinFromWelcome(welcome []byte, bundles []*KeyPackageBundle, id Identity) (*Group, error) {
	return JoinFromWelcomeWith(welcome, bundles, id, JoinOptions{})
}

// JoinFromWelcomeWith is JoinFromWelcome with options. It performs every
// check RFC 9420 §12.4.3.1 asks of a joiner: the GroupInfo's signature
// by its signer's leaf, the whole tree's validity (leaf signatures,
// parent hashes, unmerged leaves, unique keys), its hash against the
// GroupContext, the path secret's keys against the tree, and the
// confirmation tag.
func JoinFromWelcomeWith(welcome []byte, bundles []*KeyPackageBundle, id Identity, opts JoinOptions) (*Group, error) {
	m, err := DecodeMLSMessage(welcome)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != WireWelcome {
		return nil, fmt.Errorf("%w: %v where a Welcome was expected", ErrWireFormat, m.WireFormat)
	}
	w := m.Welcome
	var (
		bundle *KeyPackageBundle
		entry  *EncryptedGroupSecrets
	)
	for _, b := range bundles {
		if b == nil || b.kp.CipherSuite != w.CipherSuite {
			continue
		}
		if e, ok := w.Find(b.ref); ok {
			bundle, entry = b, e
			break
		}
	}
	if bundle == nil {
		return nil, ErrNoMatchingKeyPackage
	}
	cs := bundle.cs
	if id.SigningKey == nil || !bytes.Equal(id.SigningKey.Public(), bundle.kp.LeafNode.SignatureKey) {
		return nil, fmt.Errorf("mls: identity's signing key is not the key package's")
	}
	gs, err := w.DecryptGroupSecrets(cs, entry, bundle.initKey)
	if err != nil {
		return nil, err
	}

	g := &Group{signer: id.SigningKey, active: true, psks: map[string]suite.Secret{}, clock: opts.Clock}
	for _, p := range opts.PSKs {
		g.AddExternalPSK(p.ID, p.PSK)
	}
	link, err := resolveWelcomeLink(gs.PSKs, opts.ResumptionGroups)
	if err != nil {
		return nil, err
	}
	if link != nil {
		g.linked = []linkedPSK{link.psk}
	}
	pskSecret, err := g.pskSecret(cs, nil, gs.PSKs)
	g.linked = nil // used only by the line above
	if err != nil {
		return nil, err
	}
	welcomeSecret := schedule.WelcomeSecret(cs, gs.JoinerSecret, pskSecret)
	gi, err := w.DecryptGroupInfo(cs, welcomeSecret)
	welcomeSecret.Wipe()
	if err != nil {
		return nil, err
	}
	if gi.GroupContext.CipherSuite != w.CipherSuite || gi.GroupContext.Version != tree.MLS10 {
		return nil, fmt.Errorf("%w: GroupInfo of suite %v in a Welcome of %v", ErrMalformed, gi.GroupContext.CipherSuite, w.CipherSuite)
	}
	t, err := groupInfoTree(cs, gi, opts.RatchetTree)
	if err != nil {
		return nil, err
	}
	if err := verifyGroupInfo(cs, gi, t); err != nil {
		return nil, err
	}
	if link != nil {
		if err := link.check(&gi.GroupContext, t); err != nil {
			return nil, err
		}
	}

	me, ok := t.FindLeafNode(&bundle.kp.LeafNode)
	if !ok {
		return nil, fmt.Errorf("%w: our leaf is not in the tree", ErrInvalidTree)
	}
	priv := tree.NewPrivateState(me, bundle.encKey)
	if gs.PathSecret != nil {
		signer := tree.LeafIndex(gi.Signer)
		x := treemath.CommonAncestor(me.Node(), signer.Node())
		if _, err := priv.ImportPathSecret(t, x, *gs.PathSecret); err != nil {
			return nil, fmt.Errorf("%w: welcome path secret: %w", ErrInvalidPath, err)
		}
	}

	st := &epochState{cs: cs, ctx: gi.GroupContext, tree: t, own: me, priv: priv}
	st.ctxBytes = st.ctx.Encode()
	st.keys = schedule.NewEpoch(cs, gs.JoinerSecret, pskSecret, st.ctxBytes)
	if !st.keys.VerifyConfirmationTag(st.ctx.ConfirmedTranscriptHash, gi.ConfirmationTag) {
		return nil, ErrBadConfirmationTag
	}
	st.confTag = gi.ConfirmationTag
	st.interim = schedule.InterimTranscriptHash(cs, st.ctx.ConfirmedTranscriptHash, st.confTag)
	st.secrets = schedule.NewSecretTree(cs, st.keys.Encryption, t.LeafCount())
	g.install(st)
	return g, nil
}

// groupInfoTree returns the ratchet tree of a GroupInfo: its
// ratchet_tree extension, else the tree supplied out of band.
func groupInfoTree(cs *suite.Suite, gi *GroupInfo, outOfBand []byte) (*tree.Tree, error) {
	t, ok, err := gi.Extensions.RatchetTree(cs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidTree, err)
	}
	if !ok {
		if outOfBand == nil {
			return nil, fmt.Errorf("%w: no ratchet tree in the GroupInfo and none supplied", ErrInvalidTree)
		}
		if t, err = tree.Decode(cs, outOfBand); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidTree, err)
		}
	}
	return t, nil
}

// verifyGroupInfo checks a GroupInfo and the tree that comes with it: the
// tree hash against the GroupContext (cheap, so first), the signature by
// the signer's leaf, and the whole tree's validity.
func verifyGroupInfo(cs *suite.Suite, gi *GroupInfo, t *tree.Tree) error {
	if !bytes.Equal(t.TreeHash(), gi.GroupContext.TreeHash) {
		return ErrTreeHashMismatch
	}
	signer := t.Leaf(tree.LeafIndex(gi.Signer))
	if signer == nil {
		return fmt.Errorf("%w: GroupInfo signer %d is not a member", ErrNotMember, gi.Signer)
	}
	if err := gi.VerifySignature(cs, signer.SignatureKey); err != nil {
		return err
	}
	if err := checkGroupExtensions(gi.GroupContext.Extensions); err != nil {
		return err
	}
	required, _, _ := gi.GroupContext.Extensions.RequiredCapabilities()
	if err := t.Validate(&tree.ValidateOptions{GroupID: gi.GroupContext.GroupID, Required: required}); err != nil {
		return treeError(err)
	}
	return nil
}

// treeError maps tree validation errors to ours.
func treeError(err error) error {
	switch {
	case errors.Is(err, tree.ErrParentHash):
		return fmt.Errorf("%w: %w", ErrParentHashMismatch, err)
	case errors.Is(err, tree.ErrInvalidSignature):
		return fmt.Errorf("%w: %w: %w", ErrInvalidTree, ErrBadSignature, err)
	case errors.Is(err, tree.ErrDuplicateKey):
		return fmt.Errorf("%w: %w: %w", ErrInvalidTree, ErrDuplicateMember, err)
	}
	return fmt.Errorf("%w: %w", ErrInvalidTree, err)
}
