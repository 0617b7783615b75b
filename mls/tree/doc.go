// Package tree implements the ratchet tree of RFC 9420: the leaf-level
// structures every layer of MLS shares (credentials, capabilities,
// extensions, leaf and parent nodes, update paths), the tree itself with
// its resolutions, tree hashes and parent hashes, whole-tree validation
// for joiners, the ratchet_tree extension encoding, and TreeKEM (creating
// and processing UpdatePaths).
//
// A Tree is a value with copy-on-write nodes: nodes stored in it are never
// modified in place, only replaced, so Clone is a shallow copy of two
// slices and a staged commit can be built on a clone and thrown away.
// Tree hashes are cached per node and invalidated along the direct path of
// each change, so hashing after a commit costs O(log n).
//
// Decoded structures alias the bytes they were decoded from; callers that
// reuse an input buffer must copy it first.
package tree
