// Package identity holds the pure rules of Parley identities, shared by the
// server and the clients: device ids, the message a device signs to
// authenticate, device lists signed by the primary device, the hash-chained
// key log and its verification, handle rules and safety numbers.
//
// The server stores and serves key logs but cannot forge them: every entry
// carries a device list signed by the account's primary device, and clients
// verify the whole chain on every fetch against the head they saw last, so a
// device slipped in by the server, a rewritten history or a rollback is
// detected.
package identity
