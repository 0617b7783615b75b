package conformance

import (
	"testing"

	"github.com/parleyhq/parley/mls/treemath"
)

type treeMathVector struct {
	NLeaves uint32    `json:"n_leaves"`
	NNodes  uint32    `json:"n_nodes"`
	Root    uint32    `json:"root"`
	Left    []*uint32 `json:"left"`
	Right   []*uint32 `json:"right"`
	Parent  []*uint32 `json:"parent"`
	Sibling []*uint32 `json:"sibling"`
}

func TestTreeMath(t *testing.T) {
	var vs []treeMathVector
	load(t, "tree-math.json", &vs)
	for _, v := range vs {
		n := v.NLeaves
		if got := treemath.NodeWidth(n); got != v.NNodes {
			t.Errorf("n=%d: NodeWidth = %d, want %d", n, got, v.NNodes)
			continue
		}
		if got := treemath.Root(n); uint32(got) != v.Root {
			t.Errorf("n=%d: Root = %d, want %d", n, got, v.Root)
			continue
		}
		ok := true
		check := func(name string, want []*uint32, f func(treemath.NodeIndex) (treemath.NodeIndex, bool)) {
			if len(want) != int(v.NNodes) {
				t.Errorf("n=%d: %s has %d entries", n, name, len(want))
				ok = false
				return
			}
			for i, w := range want {
				got, has := f(treemath.NodeIndex(i))
				if (w == nil) != !has || (w != nil && uint32(got) != *w) {
					t.Errorf("n=%d: %s(%d) = %d,%v, want %v", n, name, i, got, has, w)
					ok = false
				}
			}
		}
		check("left", v.Left, treemath.Left)
		check("right", v.Right, treemath.Right)
		check("parent", v.Parent, func(x treemath.NodeIndex) (treemath.NodeIndex, bool) { return treemath.Parent(x, n) })
		check("sibling", v.Sibling, func(x treemath.NodeIndex) (treemath.NodeIndex, bool) { return treemath.Sibling(x, n) })
		if ok {
			verified("tree-math.json")
		}
	}
}
