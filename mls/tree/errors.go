package tree

import (
	"errors"
	"fmt"

	"github.com/parleyhq/parley/mls/treemath"
)

// Sentinel errors, possibly wrapped; test with errors.Is.
var (
	// ErrUnknownCredentialType is a credential whose type this package
	// cannot decode (only basic and x509 have a defined body).
	ErrUnknownCredentialType = errors.New("tree: unknown credential type")
	// ErrInvalidLeafNodeSource is a leaf_node_source outside 1..3, or
	// one that is not allowed where the leaf appears.
	ErrInvalidLeafNodeSource = errors.New("tree: invalid leaf node source")
	// ErrInvalidNodeType is a NodeType outside leaf(1)/parent(2), or a
	// node of the wrong kind at an index (a parent at an even index).
	ErrInvalidNodeType = errors.New("tree: invalid node type")
	// ErrDuplicateExtension is a list holding two extensions of one type.
	ErrDuplicateExtension = errors.New("tree: duplicate extension type")
	// ErrMalformedTree is a ratchet_tree vector that is empty, ends in a
	// blank node, or is too large.
	ErrMalformedTree = errors.New("tree: malformed ratchet tree")
	// ErrTreeTooLarge means an operation would grow the tree past
	// MaxLeaves.
	ErrTreeTooLarge = errors.New("tree: too many leaves")
	// ErrBlankLeaf is an operation on a leaf that holds no member.
	ErrBlankLeaf = errors.New("tree: blank leaf")
	// ErrLeafOutOfRange is a leaf index outside the tree.
	ErrLeafOutOfRange = errors.New("tree: leaf index out of range")
	// ErrInvalidSignature is a leaf node whose signature does not verify.
	ErrInvalidSignature = errors.New("tree: invalid leaf node signature")
	// ErrParentHash is a parent hash that does not match the tree.
	ErrParentHash = errors.New("tree: parent hash mismatch")
	// ErrUnmergedLeaves is an unmerged_leaves list that is unsorted or
	// names a leaf that is blank, outside the node, or missing from a
	// node in between.
	ErrUnmergedLeaves = errors.New("tree: invalid unmerged leaves")
	// ErrDuplicateKey is an encryption or signature key that appears in
	// two nodes.
	ErrDuplicateKey = errors.New("tree: duplicate public key")
	// ErrCapabilities is a leaf whose capabilities do not cover what it
	// or the group uses.
	ErrCapabilities = errors.New("tree: unsupported capability")
	// ErrLifetime is a key_package leaf outside its lifetime.
	ErrLifetime = errors.New("tree: leaf node outside its lifetime")
	// ErrPathLength is an UpdatePath whose node count, or a node's
	// ciphertext count, does not match the tree.
	ErrPathLength = errors.New("tree: update path does not match the tree")
	// ErrPublicKeyMismatch is a derived key pair whose public key differs
	// from the one in the tree or UpdatePath.
	ErrPublicKeyMismatch = errors.New("tree: derived public key does not match")
	// ErrNoDecryptionKey means the receiver holds no private key for any
	// node of the copath resolution that an UpdatePath encrypts to.
	ErrNoDecryptionKey = errors.New("tree: no private key to decrypt the update path")
	// ErrNotInTree is a leaf that is not a member where one is required,
	// e.g. a commit sender or receiver.
	ErrNotInTree = errors.New("tree: leaf is not in the tree")
)

// NodeError attributes a validation failure to one node of the tree.
type NodeError struct {
	Node treemath.NodeIndex
	Err  error
}

func (e *NodeError) Error() string { return fmt.Sprintf("node %d: %v", e.Node, e.Err) }
func (e *NodeError) Unwrap() error { return e.Err }

func nodeErr(x treemath.NodeIndex, err error) error { return &NodeError{Node: x, Err: err} }
