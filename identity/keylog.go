package identity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/parleyhq/parley/proto"
)

const entryContext = "parley-keylog-v1\x00"

// EntryHash is the hash that the next key-log entry's prev_hash must carry.
// It covers every field with explicit lengths, independent of protobuf's
// encoding, so any implementation can recompute it.
func EntryHash(e *proto.KeyLogEntry) []byte {
	h := sha256.New()
	h.Write([]byte(entryContext))
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	binary.BigEndian.PutUint64(n[:], e.Index)
	h.Write(n[:])
	field(e.PrevHash)
	field(e.GetDeviceList().GetList())
	field(e.GetDeviceList().GetSignature())
	binary.BigEndian.PutUint64(n[:], uint64(e.TimeMs))
	h.Write(n[:])
	return h.Sum(nil)
}

// Head is what a client remembers of an account's key log after verifying
// it: the last entry's index and hash, the account's primary key and the
// current device list.
type Head struct {
	AccountID  string
	Index      uint64
	Hash       []byte
	PrimaryKey ed25519.PublicKey
	List       *proto.DeviceList
}

// VerifyLog verifies key-log entries of accountID and returns the new head.
//
// With trusted nil, entries must be the whole log from index 0: the first
// list is self-signed by its primary, whose key must derive accountID
// (AccountID), and that key is trusted from then on. With a trusted
// head, entries must start at trusted.Index (that entry must hash to
// trusted.Hash, else ErrForked) and the log must not be shorter
// (ErrRollback). Every entry must link to the previous one by hash, be
// signed by the account's primary key, keep the account id and handle, and
// raise the list version by exactly one.
func VerifyLog(accountID string, entries []*proto.KeyLogEntry, trusted *Head) (*Head, error) {
	if len(entries) == 0 {
		if trusted != nil {
			return nil, fmt.Errorf("%w: no entries", ErrRollback)
		}
		return nil, fmt.Errorf("%w: empty log", ErrBrokenChain)
	}
	var head *Head
	var handle string
	first := entries[0]
	if trusted == nil {
		if first.Index != 0 || len(first.PrevHash) != 0 {
			return nil, fmt.Errorf("%w: log does not start at index 0", ErrBrokenChain)
		}
		l, err := ParseDeviceList(first.DeviceList)
		if err != nil {
			return nil, err
		}
		pk := ed25519.PublicKey(Primary(l).SigningKey)
		if _, err := VerifyDeviceList(pk, first.DeviceList); err != nil {
			return nil, err
		}
		if l.AccountId != accountID || l.Version != 1 {
			return nil, fmt.Errorf("%w: first entry is for %q version %d", ErrBrokenChain, l.AccountId, l.Version)
		}
		// The account id is derived from the first primary key, so a
		// server cannot present a self-signed log of its own making under
		// someone else's account id on first contact.
		if AccountID(pk) != accountID {
			return nil, fmt.Errorf("%w: account %q does not belong to the log's primary key", ErrBrokenChain, accountID)
		}
		head = &Head{AccountID: accountID, Index: 0, Hash: EntryHash(first), PrimaryKey: pk, List: l}
	} else {
		if trusted.AccountID != accountID {
			return nil, fmt.Errorf("%w: trusted head is for another account", ErrBrokenChain)
		}
		if first.Index != trusted.Index {
			if first.Index > trusted.Index {
				return nil, fmt.Errorf("%w: entries start at %d, after the trusted %d", ErrBrokenChain, first.Index, trusted.Index)
			}
			return nil, fmt.Errorf("%w: entries start at %d, before the trusted %d", ErrBrokenChain, first.Index, trusted.Index)
		}
		if !bytes.Equal(EntryHash(first), trusted.Hash) {
			return nil, ErrForked
		}
		head = &Head{AccountID: accountID, Index: trusted.Index, Hash: trusted.Hash, PrimaryKey: trusted.PrimaryKey, List: trusted.List}
	}
	handle = head.List.Handle
	for _, e := range entries[1:] {
		if e.Index != head.Index+1 || !bytes.Equal(e.PrevHash, head.Hash) {
			return nil, fmt.Errorf("%w: entry %d does not follow entry %d", ErrBrokenChain, e.Index, head.Index)
		}
		l, err := VerifyDeviceList(head.PrimaryKey, e.DeviceList)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", e.Index, err)
		}
		if l.AccountId != accountID || l.Handle != handle || l.Version != head.List.Version+1 {
			return nil, fmt.Errorf("%w: entry %d changes account, handle or skips a version", ErrBrokenChain, e.Index)
		}
		head = &Head{AccountID: accountID, Index: e.Index, Hash: EntryHash(e), PrimaryKey: head.PrimaryKey, List: l}
	}
	return head, nil
}
