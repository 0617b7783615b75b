package treemath

import (
	"slices"
	"testing"
)

// TestEightLeaves checks the figure of RFC 9420 Appendix C.
func TestEightLeaves(t *testing.T) {
	const n = 8
	if w := NodeWidth(n); w != 15 {
		t.Fatalf("NodeWidth = %d", w)
	}
	if r := Root(n); r != 7 {
		t.Fatalf("Root = %d", r)
	}
	if got := DirectPath(LeafIndex(2).Node(), n); !slices.Equal(got, []NodeIndex{5, 3, 7}) {
		t.Errorf("DirectPath(4) = %v", got)
	}
	if got := Copath(LeafIndex(2).Node(), n); !slices.Equal(got, []NodeIndex{6, 1, 11}) {
		t.Errorf("Copath(4) = %v", got)
	}
	if got := DirectPath(7, n); len(got) != 0 {
		t.Errorf("DirectPath(root) = %v", got)
	}
	if _, ok := Parent(7, n); ok {
		t.Error("root has a parent")
	}
	if _, ok := Parent(15, n); ok {
		t.Error("node outside the tree has a parent")
	}
	if _, ok := Left(4); ok {
		t.Error("leaf has a left child")
	}
	if l, ok := NodeIndex(6).Leaf(); !ok || l != 3 {
		t.Errorf("Leaf(6) = %d, %v", l, ok)
	}
	if _, ok := NodeIndex(5).Leaf(); ok {
		t.Error("node 5 is a leaf")
	}
	if LeafCount(15) != 8 || LeafCount(1) != 1 || LeafCount(0) != 0 {
		t.Error("LeafCount")
	}
}

// TestCommonAncestor compares the bit-trick version against the definition:
// the lowest node on both direct paths.
func TestCommonAncestor(t *testing.T) {
	const n = 32
	for x := NodeIndex(0); x < NodeIndex(NodeWidth(n)); x++ {
		for y := NodeIndex(0); y < NodeIndex(NodeWidth(n)); y++ {
			dx := append([]NodeIndex{x}, DirectPath(x, n)...)
			dy := append([]NodeIndex{y}, DirectPath(y, n)...)
			want := NodeIndex(0)
			for _, a := range dx {
				if slices.Contains(dy, a) {
					want = a
					break
				}
			}
			if got := CommonAncestor(x, y); got != want {
				t.Fatalf("CommonAncestor(%d, %d) = %d, want %d", x, y, got, want)
			}
			if got := InSubtree(x, y); got != slices.Contains(dx, y) {
				t.Fatalf("InSubtree(%d, %d) = %v", x, y, got)
			}
		}
	}
}

// TestPathsAgree checks that copath entries are the siblings along the
// direct path.
func TestPathsAgree(t *testing.T) {
	for n := uint32(1); n <= 1024; n *= 2 {
		for x := NodeIndex(0); x < NodeIndex(NodeWidth(n)); x++ {
			d, c := DirectPath(x, n), Copath(x, n)
			if len(d) != len(c) || len(d) != DirectPathLen(x, n) {
				t.Fatalf("n=%d x=%d: lengths %d %d", n, x, len(d), len(c))
			}
			prev := x
			for i := range d {
				if p, _ := Parent(prev, n); p != d[i] {
					t.Fatalf("n=%d x=%d: path[%d]=%d, parent %d", n, x, i, d[i], p)
				}
				if s, _ := Sibling(prev, n); s != c[i] {
					t.Fatalf("n=%d x=%d: copath[%d]=%d, sibling %d", n, x, i, c[i], s)
				}
				prev = d[i]
			}
			if len(d) > 0 && d[len(d)-1] != Root(n) {
				t.Fatalf("n=%d x=%d: path ends at %d", n, x, d[len(d)-1])
			}
		}
	}
}

func BenchmarkDirectPath(b *testing.B) {
	for i := 0; b.Loop(); i++ {
		_ = DirectPath(LeafIndex(i%1024).Node(), 1024)
	}
}
