package conformance

import (
	"bytes"
	"slices"
	"testing"

	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/mls/tree"
	"github.com/parleyhq/parley/mls/treemath"
)

type treeValidationVector struct {
	CipherSuite uint16     `json:"cipher_suite"`
	Tree        hexBytes   `json:"tree"`
	GroupID     hexBytes   `json:"group_id"`
	Resolutions [][]uint32 `json:"resolutions"`
	TreeHashes  []hexBytes `json:"tree_hashes"`
}

func TestTreeValidation(t *testing.T) {
	var vs []treeValidationVector
	load(t, "tree-validation.json", &vs)
	for n, v := range vs {
		cs, err := suite.Get(suite.ID(v.CipherSuite))
		if err != nil {
			unsupported("tree-validation.json", v.CipherSuite)
			continue
		}
		if !checkTreeValidation(t, n, cs, &v) {
			continue
		}
		verified("tree-validation.json")
	}
}

func checkTreeValidation(t *testing.T, n int, cs *suite.Suite, v *treeValidationVector) bool {
	t.Helper()
	tr, err := tree.Decode(cs, v.Tree)
	if err != nil {
		t.Errorf("vector %d: decode: %v", n, err)
		return false
	}
	if !bytes.Equal(tr.Encode(), v.Tree) {
		t.Errorf("vector %d: tree does not re-encode", n)
		return false
	}
	if int(tr.Width()) != len(v.Resolutions) || len(v.Resolutions) != len(v.TreeHashes) {
		t.Errorf("vector %d: width %d, %d resolutions, %d hashes", n, tr.Width(), len(v.Resolutions), len(v.TreeHashes))
		return false
	}
	ok := true
	for x := range v.Resolutions {
		var want []treemath.NodeIndex
		for _, r := range v.Resolutions[x] {
			want = append(want, treemath.NodeIndex(r))
		}
		if got := tr.Resolution(treemath.NodeIndex(x)); !slices.Equal(got, want) {
			t.Errorf("vector %d: resolution(%d) = %v, want %v", n, x, got, want)
			ok = false
		}
		if got := tr.NodeHash(treemath.NodeIndex(x)); !bytes.Equal(got, v.TreeHashes[x]) {
			t.Errorf("vector %d: tree hash(%d) = %x, want %x", n, x, got, v.TreeHashes[x])
			ok = false
		}
	}
	if err := tr.VerifyParentHashes(); err != nil {
		t.Errorf("vector %d: parent hashes: %v", n, err)
		ok = false
	}
	if err := tr.Validate(&tree.ValidateOptions{GroupID: v.GroupID}); err != nil {
		t.Errorf("vector %d: validate: %v", n, err)
		ok = false
	}
	return ok
}
