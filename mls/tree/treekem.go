package tree

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/parleyhq/parley/mls/internal/parallel"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/treemath"
)

// updatePathLabel is the EncryptWithLabel label of path secrets.
const updatePathLabel = "UpdatePathNode"

// skipSet turns a list of leaves into a lookup table for resolve, or nil
// when the list is empty.
func skipSet(leaves []LeafIndex, n uint32) []bool {
	if len(leaves) == 0 {
		return nil
	}
	s := make([]bool, n)
	for _, l := range leaves {
		if uint32(l) < n {
			s[l] = true
		}
	}
	return s
}

// applyPath merges new public keys into the filtered direct path of
// sender (RFC 9420 §7.5): it blanks the whole direct path, installs pubs
// on the filtered nodes with no unmerged leaves, and computes their parent
// hashes from the root down. It returns the parent hash the sender's leaf
// must carry (empty when the path is).
func (t *Tree) applyPath(sender LeafIndex, path, copath []NodeIndex, pubs []HPKEPublicKey) []byte {
	t.blankPath(sender)
	var ph []byte // parent hash of the node above, for the node below
	for k := len(path) - 1; k >= 0; k-- {
		p := &ParentNode{EncryptionKey: pubs[k], ParentHash: ph}
		t.set(path[k], node{parent: p})
		ph = t.parentHash(p, t.NodeHash(copath[k]))
	}
	if ph == nil {
		ph = []byte{}
	}
	return ph
}

// PendingPath is an UpdatePath being created by GeneratePath: the tree
// already holds the committer's new leaf and path, and Encrypt produces
// the UpdatePath once the caller knows the provisional GroupContext,
// which includes the new tree hash.
type PendingPath struct {
	tree         *Tree
	sender       LeafIndex
	path, copath []NodeIndex
	secrets      []suite.Secret // path secret of each node of path
	pubs         []HPKEPublicKey
	leaf         *LeafNode
	priv         *PrivateState
	commitSecret suite.Secret
}

// GeneratePath refreshes the leaf of sender and its filtered direct path
// in t from a fresh random leaf secret (RFC 9420 §7.4, §7.5). leaf is the
// template of the new leaf node: its signature key, credential,
// capabilities and extensions are kept; encryption key, source (commit),
// parent hash and signature are filled in, the signature with signer over
// groupID and sender's index. t must already reflect the commit's
// proposals. On error t is in an unspecified state, so callers work on a
// Clone.
func (t *Tree) GeneratePath(sender LeafIndex, leaf *LeafNode, signer *suite.SigningKey, groupID []byte) (*PendingPath, error) {
	seed := make([]byte, t.cs.HashSize())
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	return t.generatePath(sender, leaf, signer, groupID, suite.NewSecret(seed))
}

// generatePath is GeneratePath with a given leaf secret: the leaf key
// derives from it as a node secret, and path_secret[0] follows it.
func (t *Tree) generatePath(sender LeafIndex, leaf *LeafNode, signer *suite.SigningKey, groupID []byte, leafSecret suite.Secret) (*PendingPath, error) {
	if err := t.checkLeaf(sender); err != nil {
		return nil, err
	}
	leafKey, err := nodeKey(t.cs, leafSecret)
	if err != nil {
		return nil, err
	}
	pp := &PendingPath{tree: t, sender: sender, priv: NewPrivateState(sender, leafKey)}
	pp.path, pp.copath = t.FilteredDirectPath(sender)
	pp.secrets = make([]suite.Secret, len(pp.path))
	pp.pubs = make([]HPKEPublicKey, len(pp.path))
	secret := leafSecret
	for k, x := range pp.path {
		secret = nextPathSecret(t.cs, secret)
		key, err := nodeKey(t.cs, secret)
		if err != nil {
			return nil, err
		}
		pp.secrets[k], pp.pubs[k] = secret, key.Public()
		pp.priv.keys[x] = key
	}
	pp.commitSecret = nextPathSecret(t.cs, secret)

	nl := *leaf
	nl.EncryptionKey = leafKey.Public()
	nl.Source = SourceCommit
	nl.Lifetime = Lifetime{}
	nl.ParentHash = t.applyPath(sender, pp.path, pp.copath, pp.pubs)
	if err := nl.Sign(t.cs, signer, groupID, sender); err != nil {
		return nil, err
	}
	t.set(sender.Node(), node{leaf: &nl})
	pp.leaf = &nl
	return pp, nil
}

// LeafNode returns the committer's new leaf node.
func (pp *PendingPath) LeafNode() *LeafNode { return pp.leaf }

// CommitSecret returns the commit secret the path yields.
func (pp *PendingPath) CommitSecret() suite.Secret { return pp.commitSecret }

// PrivateState returns the committer's private state after the commit:
// the new leaf key and the keys of its filtered direct path.
func (pp *PendingPath) PrivateState() *PrivateState { return pp.priv }

// PathSecretFor returns the path secret a member added by the commit
// receives in its Welcome: the one of the lowest node of the committer's
// filtered direct path above the joiner's leaf (their common ancestor).
func (pp *PendingPath) PathSecretFor(joiner LeafIndex) (suite.Secret, error) {
	ca := treemath.CommonAncestor(pp.sender.Node(), joiner.Node())
	for k, x := range pp.path {
		if x == ca {
			return pp.secrets[k], nil
		}
	}
	return suite.Secret{}, fmt.Errorf("%w: leaf %d shares no path node with the committer", ErrNotInTree, joiner)
}

// Encrypt returns the UpdatePath: each path secret encrypted, with the
// provisional GroupContext (encoded) as context, to every node in the
// resolution of the copath child, leaving out the leaves in exclude (the
// members the same commit adds, who get their secret from the Welcome).
func (pp *PendingPath) Encrypt(groupContext []byte, exclude []LeafIndex) (*UpdatePath, error) {
	t := pp.tree
	skip := skipSet(exclude, t.LeafCount())
	up := &UpdatePath{LeafNode: *pp.leaf, Nodes: make([]UpdatePathNode, len(pp.path))}
	type job struct {
		k   int
		dst *HPKECiphertext
		to  HPKEPublicKey
	}
	var jobs []job
	for k := range pp.path {
		res := t.resolve(pp.copath[k], skip, nil)
		up.Nodes[k] = UpdatePathNode{EncryptionKey: pp.pubs[k], EncryptedPathSecret: make([]HPKECiphertext, len(res))}
		for j, x := range res {
			jobs = append(jobs, job{k, &up.Nodes[k].EncryptedPathSecret[j], t.EncryptionKey(x)})
		}
	}
	err := parallel.Run(len(jobs), func(i int) error {
		j := jobs[i]
		kem, ct, err := t.cs.EncryptWithLabel(j.to, updatePathLabel, groupContext, pp.secrets[j.k].Bytes())
		if err != nil {
			return fmt.Errorf("tree: encrypt path secret: %w", err)
		}
		*j.dst = HPKECiphertext{KEMOutput: kem, Ciphertext: ct}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return up, nil
}

// MergeUpdatePath merges a received UpdatePath from sender into t
// (RFC 9420 §7.5). It checks that the path fits the tree (one node per
// filtered direct path node, one ciphertext per resolution node not in
// exclude) and that its public keys are well-formed and new to the tree,
// then installs the keys with their parent hashes and the new leaf, and
// checks the leaf's parent hash.
//
// The leaf node itself is the caller's to validate first (LeafNode.Check
// with SourceCommit, and CheckLeafCompat). t must reflect the commit's
// proposals; for an external commit the caller first adds the path's leaf
// node with AddLeaf (after CheckLeafCompat with a nil replacing) and
// passes the index it got as sender. On error t is in an unspecified
// state, so callers merge into a Clone.
func (t *Tree) MergeUpdatePath(sender LeafIndex, up *UpdatePath, exclude []LeafIndex) error {
	if err := t.checkLeaf(sender); err != nil {
		return err
	}
	if up.LeafNode.Source != SourceCommit {
		return fmt.Errorf("%w: %v in an update path", ErrInvalidLeafNodeSource, up.LeafNode.Source)
	}
	path, copath := t.FilteredDirectPath(sender)
	if len(up.Nodes) != len(path) {
		return fmt.Errorf("%w: %d nodes for a filtered direct path of %d", ErrPathLength, len(up.Nodes), len(path))
	}
	skip := skipSet(exclude, t.LeafCount())
	pubs := make([]HPKEPublicKey, len(path))
	for k := range path {
		if n := len(t.resolve(copath[k], skip, nil)); n != len(up.Nodes[k].EncryptedPathSecret) {
			return fmt.Errorf("%w: %d ciphertexts for a resolution of %d at node %d", ErrPathLength, len(up.Nodes[k].EncryptedPathSecret), n, path[k])
		}
		pubs[k] = up.Nodes[k].EncryptionKey
		if err := t.cs.ValidateHPKEPublicKey(pubs[k]); err != nil {
			return fmt.Errorf("tree: update path key for node %d: %w", path[k], err)
		}
	}
	// In an external commit the joiner's leaf was added just before, so
	// its key is in the tree already; it is fresh all the same.
	except := NodeIndex(len(t.nodes))
	if old := t.nodes[sender.Node()].leaf; old == &up.LeafNode || old.Equal(&up.LeafNode) {
		except = sender.Node()
	}
	if err := t.checkFreshKeys(append(pubs, up.LeafNode.EncryptionKey), except); err != nil {
		return err
	}
	ph := t.applyPath(sender, path, copath, pubs)
	if !bytes.Equal(ph, up.LeafNode.ParentHash) {
		return fmt.Errorf("%w: committer's leaf", ErrParentHash)
	}
	leaf := up.LeafNode
	t.set(sender.Node(), node{leaf: &leaf})
	return nil
}

// checkFreshKeys fails if any of keys appears twice or in any node of t
// other than except.
func (t *Tree) checkFreshKeys(keys []HPKEPublicKey, except NodeIndex) error {
	for i, k := range keys {
		for _, o := range keys[:i] {
			if bytes.Equal(k, o) {
				return fmt.Errorf("%w: repeated within the update path", ErrDuplicateKey)
			}
		}
	}
	for x := range t.nodes {
		pub := t.EncryptionKey(NodeIndex(x))
		if pub == nil || NodeIndex(x) == except {
			continue
		}
		for _, k := range keys {
			if bytes.Equal(pub, k) {
				return fmt.Errorf("%w: update path reuses the key of node %d", ErrDuplicateKey, x)
			}
		}
	}
	return nil
}

// DecryptedPath is what a receiver learns from an UpdatePath.
type DecryptedPath struct {
	// State is the receiver's private state after the commit.
	State *PrivateState
	// CommitSecret feeds the key schedule.
	CommitSecret suite.Secret
	// Node is the lowest node of the committer's path above the receiver,
	// and PathSecret the secret decrypted for it.
	Node       NodeIndex
	PathSecret suite.Secret
}

// DecryptPath decrypts, as the member whose private state is priv, the
// path secret that sender's UpdatePath (already merged into t with
// MergeUpdatePath) encrypts to it, derives the rest of the path, checks
// every derived public key against the tree, and returns the member's new
// private state and the commit secret (RFC 9420 §7.5). groupContext is
// the encoded provisional GroupContext; exclude lists the leaves the
// commit adds, as given to MergeUpdatePath. priv is not modified.
func (t *Tree) DecryptPath(priv *PrivateState, sender LeafIndex, up *UpdatePath, groupContext []byte, exclude []LeafIndex) (*DecryptedPath, error) {
	me := priv.leaf
	if me == sender {
		return nil, fmt.Errorf("%w: decrypting one's own update path", ErrNoDecryptionKey)
	}
	path, copath := t.FilteredDirectPath(sender)
	if len(path) != len(up.Nodes) {
		return nil, fmt.Errorf("%w: %d nodes for a filtered direct path of %d", ErrPathLength, len(up.Nodes), len(path))
	}
	k := -1
	for i, c := range copath {
		if treemath.InSubtree(me.Node(), c) {
			k = i
			break
		}
	}
	if k < 0 {
		return nil, fmt.Errorf("%w: leaf %d is below no node of the path", ErrNotInTree, me)
	}
	res := t.resolve(copath[k], skipSet(exclude, t.LeafCount()), nil)
	cts := up.Nodes[k].EncryptedPathSecret
	if len(res) != len(cts) {
		return nil, fmt.Errorf("%w: %d ciphertexts for a resolution of %d", ErrPathLength, len(cts), len(res))
	}
	var (
		key *suite.HPKEKey
		ct  *HPKECiphertext
	)
	for j, x := range res {
		if kk := priv.keys[x]; kk != nil && matches(t, x, kk) {
			key, ct = kk, &cts[j]
			break
		}
	}
	if key == nil {
		return nil, ErrNoDecryptionKey
	}
	pt, err := t.cs.DecryptWithLabel(key, updatePathLabel, groupContext, ct.KEMOutput, ct.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("tree: decrypt path secret: %w", err)
	}
	secret := suite.NewSecret(pt)
	clear(pt)
	next := priv.Clone()
	commitSecret, err := next.ImportPathSecret(t, path[k], secret)
	if err != nil {
		return nil, err
	}
	next.Prune(t)
	return &DecryptedPath{State: next, CommitSecret: commitSecret, Node: path[k], PathSecret: secret}, nil
}
