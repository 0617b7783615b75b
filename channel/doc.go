// Package channel holds the pure rules of Parley channels, shared by the
// server and the clients: channel ids, the channel key and its chain,
// the byte strings the channel key signs, signing and verifying posts and
// channel info, and the validation of posts, polls, votes and reactions.
//
// Channels are public and not end-to-end encrypted, but they are signed:
// every post and every version of the channel's info carries a signature by
// the channel's Ed25519 key, which only the owner's and admins' devices
// hold. The server verifies on upload (so it refuses forgeries) and
// followers verify again on receipt (so the server cannot forge or alter a
// post either). Signed objects travel as their serialized bytes plus the
// signature, so nobody re-encodes them before verifying.
//
// Every failure is a *proto.Error whose code the server sends as is and
// whose message says what to fix.
package channel
