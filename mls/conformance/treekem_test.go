package conformance

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
	"github.com/parleyhq/parley/mls/treemath"
)

type treeKEMVector struct {
	CipherSuite             uint16   `json:"cipher_suite"`
	GroupID                 hexBytes `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
	RatchetTree             hexBytes `json:"ratchet_tree"`
	LeavesPrivate           []struct {
		Index          uint32   `json:"index"`
		EncryptionPriv hexBytes `json:"encryption_priv"`
		SignaturePriv  hexBytes `json:"signature_priv"`
		PathSecrets    []struct {
			Node       uint32   `json:"node"`
			PathSecret hexBytes `json:"path_secret"`
		} `json:"path_secrets"`
	} `json:"leaves_private"`
	UpdatePaths []struct {
		Sender        uint32     `json:"sender"`
		UpdatePath    hexBytes   `json:"update_path"`
		PathSecrets   []hexBytes `json:"path_secrets"`
		CommitSecret  hexBytes   `json:"commit_secret"`
		TreeHashAfter hexBytes   `json:"tree_hash_after"`
	} `json:"update_paths"`
}

// groupContext encodes the GroupContext of RFC 9420 §8.1 with empty
// extensions; the group layer owns the real type.
func (v *treeKEMVector) groupContext(treeHash []byte) []byte {
	var w codec.Writer
	w.Uint16(1) // mls10
	w.Uint16(v.CipherSuite)
	w.Opaque(v.GroupID)
	w.Uint64(v.Epoch)
	w.Opaque(treeHash)
	w.Opaque(v.ConfirmedTranscriptHash)
	w.Vector(func(*codec.Writer) {})
	return w.Bytes()
}

func TestTreeKEM(t *testing.T) {
	var vs []treeKEMVector
	load(t, "treekem.json", &vs)
	for n := range vs {
		v := &vs[n]
		cs, err := suite.Get(suite.ID(v.CipherSuite))
		if err != nil {
			unsupported("treekem.json", v.CipherSuite)
			continue
		}
		if err := checkTreeKEM(cs, v); err != nil {
			t.Errorf("vector %d (suite %d): %v", n, v.CipherSuite, err)
			continue
		}
		verified("treekem.json")
	}
}

func treeKEMErrf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func checkTreeKEM(cs *suite.Suite, v *treeKEMVector) error {
	tr, err := tree.Decode(cs, v.RatchetTree)
	if err != nil {
		return treeKEMErrf("decode tree: %v", err)
	}
	privs := map[tree.LeafIndex]*tree.PrivateState{}
	signers := map[tree.LeafIndex]*suite.SigningKey{}
	for _, lp := range v.LeavesPrivate {
		i := tree.LeafIndex(lp.Index)
		key, err := cs.ParseHPKEKey(lp.EncryptionPriv)
		if err != nil {
			return treeKEMErrf("leaf %d: encryption key: %v", i, err)
		}
		priv := tree.NewPrivateState(i, key)
		for _, ps := range lp.PathSecrets {
			if err := priv.SetPathSecret(tr, treemath.NodeIndex(ps.Node), suite.NewSecret(ps.PathSecret)); err != nil {
				return treeKEMErrf("leaf %d: path secret of node %d: %v", i, ps.Node, err)
			}
		}
		if err := priv.Check(tr); err != nil {
			return treeKEMErrf("leaf %d: private state: %v", i, err)
		}
		sk, err := cs.ParseSigningKey(lp.SignaturePriv)
		if err != nil {
			return treeKEMErrf("leaf %d: signature key: %v", i, err)
		}
		if l := tr.Leaf(i); l == nil || !bytes.Equal(l.SignatureKey, sk.Public()) {
			return treeKEMErrf("leaf %d: signature key does not match the tree", i)
		}
		privs[i], signers[i] = priv, sk
	}

	for _, vp := range v.UpdatePaths {
		sender := tree.LeafIndex(vp.Sender)
		var up tree.UpdatePath
		if err := codec.Unmarshal(vp.UpdatePath, &up); err != nil {
			return treeKEMErrf("sender %d: decode update path: %v", sender, err)
		}
		if !bytes.Equal(codec.Marshal(&up), vp.UpdatePath) {
			return treeKEMErrf("sender %d: update path does not re-encode", sender)
		}
		if err := up.LeafNode.Check(cs, &tree.LeafCheck{GroupID: v.GroupID, Index: sender, Source: tree.SourceCommit}); err != nil {
			return treeKEMErrf("sender %d: leaf node: %v", sender, err)
		}
		if err := tr.CheckLeafCompat(&up.LeafNode, &sender); err != nil {
			return treeKEMErrf("sender %d: leaf node compatibility: %v", sender, err)
		}
		merged := tr.Clone()
		if err := merged.MergeUpdatePath(sender, &up, nil); err != nil {
			return treeKEMErrf("sender %d: merge: %v", sender, err)
		}
		if got := merged.TreeHash(); !bytes.Equal(got, vp.TreeHashAfter) {
			return treeKEMErrf("sender %d: tree hash after %x, want %x", sender, got, vp.TreeHashAfter)
		}
		if err := merged.Validate(&tree.ValidateOptions{GroupID: v.GroupID}); err != nil {
			return treeKEMErrf("sender %d: merged tree invalid: %v", sender, err)
		}
		ctx := v.groupContext(merged.TreeHash())
		for j, priv := range privs {
			if j == sender {
				continue
			}
			d, err := merged.DecryptPath(priv, sender, &up, ctx, nil)
			if err != nil {
				return treeKEMErrf("sender %d, receiver %d: %v", sender, j, err)
			}
			if int(j) >= len(vp.PathSecrets) || !bytes.Equal(d.PathSecret.Bytes(), vp.PathSecrets[j]) {
				return treeKEMErrf("sender %d, receiver %d: wrong path secret", sender, j)
			}
			if !bytes.Equal(d.CommitSecret.Bytes(), vp.CommitSecret) {
				return treeKEMErrf("sender %d, receiver %d: wrong commit secret", sender, j)
			}
			if err := d.State.Check(merged); err != nil {
				return treeKEMErrf("sender %d, receiver %d: new private state: %v", sender, j, err)
			}
		}

		// A fresh UpdatePath from the same sender must be processed by
		// every other member to the same commit secret.
		if err := checkNewPath(cs, v, tr, sender, signers[sender], privs); err != nil {
			return treeKEMErrf("sender %d: new path: %v", sender, err)
		}
	}
	return nil
}

func checkNewPath(cs *suite.Suite, v *treeKEMVector, tr *tree.Tree, sender tree.LeafIndex, signer *suite.SigningKey, privs map[tree.LeafIndex]*tree.PrivateState) error {
	if signer == nil {
		return treeKEMErrf("no signature key for the sender")
	}
	mine := tr.Clone()
	pp, err := mine.GeneratePath(sender, tr.Leaf(sender), signer, v.GroupID)
	if err != nil {
		return err
	}
	ctx := v.groupContext(mine.TreeHash())
	up, err := pp.Encrypt(ctx, nil)
	if err != nil {
		return err
	}
	if err := mine.Validate(&tree.ValidateOptions{GroupID: v.GroupID}); err != nil {
		return treeKEMErrf("committer's tree invalid: %v", err)
	}
	if err := pp.PrivateState().Check(mine); err != nil {
		return treeKEMErrf("committer's private state: %v", err)
	}
	var decoded tree.UpdatePath
	if err := codec.Unmarshal(codec.Marshal(up), &decoded); err != nil {
		return err
	}
	if err := decoded.LeafNode.Check(cs, &tree.LeafCheck{GroupID: v.GroupID, Index: sender, Source: tree.SourceCommit}); err != nil {
		return err
	}
	theirs := tr.Clone()
	if err := theirs.MergeUpdatePath(sender, &decoded, nil); err != nil {
		return err
	}
	if !bytes.Equal(theirs.TreeHash(), mine.TreeHash()) {
		return treeKEMErrf("receivers' tree hash differs from the committer's")
	}
	for j, priv := range privs {
		if j == sender {
			continue
		}
		d, err := theirs.DecryptPath(priv, sender, &decoded, ctx, nil)
		if err != nil {
			return treeKEMErrf("receiver %d: %v", j, err)
		}
		if !d.CommitSecret.Equal(pp.CommitSecret()) {
			return treeKEMErrf("receiver %d: commit secret differs", j)
		}
		want, err := pp.PathSecretFor(j)
		if err != nil || !want.Equal(d.PathSecret) {
			return treeKEMErrf("receiver %d: path secret differs from the committer's (%v)", j, err)
		}
	}
	return nil
}
