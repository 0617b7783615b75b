package mls

import "errors"

// Sentinel errors of the group layer. They are returned wrapped (with the
// operation and, where useful, the lower layer's own error), so test them
// with errors.Is. The list is append-only: clients map them to user-facing
// outcomes and must be able to rely on them across versions.
var (
	// ErrWrongEpoch is a message for an epoch other than the group's
	// current one (a late commit, or a message from the future).
	ErrWrongEpoch = errors.New("mls: wrong epoch")
	// ErrWrongGroup is a message whose group_id is not this group's.
	ErrWrongGroup = errors.New("mls: wrong group")
	// ErrBadSignature is a signature that does not verify: on framed
	// content, a GroupInfo, a KeyPackage or a LeafNode.
	ErrBadSignature = errors.New("mls: bad signature")
	// ErrBadMembershipTag is a PublicMessage from a member whose
	// membership_tag does not verify under the epoch's membership key.
	ErrBadMembershipTag = errors.New("mls: bad membership tag")
	// ErrBadConfirmationTag is a commit or GroupInfo whose confirmation
	// tag does not match the recomputed one: the sender and we disagree
	// on the new epoch's state.
	ErrBadConfirmationTag = errors.New("mls: bad confirmation tag")
	// ErrGenerationReused is a PrivateMessage for a ratchet generation
	// whose key was already consumed (a replay).
	ErrGenerationReused = errors.New("mls: generation already used")
	// ErrGenerationTooFar is a PrivateMessage whose generation lies
	// beyond the bounded window of keys we are willing to derive.
	ErrGenerationTooFar = errors.New("mls: generation too far ahead")
	// ErrTreeHashMismatch is a ratchet tree whose root hash differs from
	// the tree_hash of the GroupContext it comes with.
	ErrTreeHashMismatch = errors.New("mls: tree hash mismatch")
	// ErrParentHashMismatch is a tree or UpdatePath whose parent hashes
	// do not chain.
	ErrParentHashMismatch = errors.New("mls: parent hash mismatch")
	// ErrKeyPackageExpired is a key package (or a key_package leaf) used
	// outside its lifetime.
	ErrKeyPackageExpired = errors.New("mls: key package expired")
	// ErrDuplicateMember is an Add of a client already in the group (same
	// signature key or credential), or two Adds of one client.
	ErrDuplicateMember = errors.New("mls: duplicate member")
	// ErrProposalNotAllowed is a proposal its sender may not make, or a
	// proposal list that violates RFC 9420 §12.2.
	ErrProposalNotAllowed = errors.New("mls: proposal not allowed")
	// ErrCommitterRemoved is a commit whose proposals remove its sender.
	ErrCommitterRemoved = errors.New("mls: commit removes its committer")
	// ErrNotMember is a sender, or a leaf named in a proposal, that does
	// not hold a member.
	ErrNotMember = errors.New("mls: not a member")
	// ErrPendingCommit is an operation refused because a staged commit
	// awaits MergePendingCommit or DiscardPendingCommit.
	ErrPendingCommit = errors.New("mls: a commit is pending")
	// ErrNoPendingCommit is MergePendingCommit with nothing staged.
	ErrNoPendingCommit = errors.New("mls: no pending commit")
	// ErrInactive is an operation on a group we have been removed from.
	ErrInactive = errors.New("mls: no longer a member of the group")
	// ErrPathRequired is a commit without an UpdatePath whose proposals
	// need one (empty commits, Update, Remove, ExternalInit,
	// GroupContextExtensions).
	ErrPathRequired = errors.New("mls: commit needs an update path")
	// ErrInvalidPath is an UpdatePath that does not fit the tree or
	// whose derived keys do not match its public keys.
	ErrInvalidPath = errors.New("mls: invalid update path")
	// ErrUnknownProposal is a commit referencing a proposal we did not
	// receive in this epoch.
	ErrUnknownProposal = errors.New("mls: unknown proposal reference")
	// ErrMissingPSK is a commit or Welcome that needs a pre-shared key we
	// do not hold.
	ErrMissingPSK = errors.New("mls: missing pre-shared key")
	// ErrNoMatchingKeyPackage is a Welcome that is not addressed to any of
	// the key packages offered.
	ErrNoMatchingKeyPackage = errors.New("mls: welcome not for any of our key packages")
	// ErrInvalidKeyPackage is a key package that fails validation for a
	// reason other than its lifetime (suite, version, capabilities,
	// init key equal to encryption key).
	ErrInvalidKeyPackage = errors.New("mls: invalid key package")
	// ErrInvalidTree is a ratchet tree that fails validation (leaf
	// signatures, unmerged leaves, duplicate keys, capabilities).
	ErrInvalidTree = errors.New("mls: invalid ratchet tree")
	// ErrMalformed is a message that does not decode, or decodes to a
	// structure that is not acceptable where it appears.
	ErrMalformed = errors.New("mls: malformed message")
	// ErrOwnCommit is a commit of our own coming back from the delivery
	// service: apply it with MergePendingCommit instead.
	ErrOwnCommit = errors.New("mls: own commit; use MergePendingCommit")
	// ErrUnsupported is a feature this implementation does not offer
	// (an unimplemented cipher suite or protocol version).
	ErrUnsupported = errors.New("mls: unsupported")
	// ErrStateVersion is an exported state of an unknown version.
	ErrStateVersion = errors.New("mls: unknown state version")
	// ErrReInitialized is an operation on a group whose last commit
	// carried a ReInit (RFC 9420 §11.2): it no longer sends or accepts
	// anything but the application messages of its final epoch; carry
	// on in the new group (Group.ReInitGroup, JoinOptions.ResumptionGroups).
	// It is reported together with ErrUnsupported, which earlier
	// versions returned alone.
	ErrReInitialized = errors.New("mls: group was reinitialised")
	// ErrResumptionMismatch is a Welcome whose resumption PSK of usage
	// reinit or branch does not fit the group it resumes (RFC 9420
	// §11.2, §11.3, §12.4.3.1): parameters other than the ReInit's, an
	// epoch other than 1, a PSK epoch other than the old group's final
	// one, members not in the old group, or more than one such PSK.
	ErrResumptionMismatch = errors.New("mls: welcome does not match the group it resumes")
)
