// Package conformance runs the official MLS working-group test vectors
// (../shared/mls/test-vectors, pinned by VECTORS.sha256) against the mls
// packages. It holds only tests; the vectors are read from the shared folder
// at test time and never copied into the repository.
package conformance
