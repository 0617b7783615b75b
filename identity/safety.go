package identity

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"strings"
)

// safetyIterations slows down a brute-force search for a colliding key, as
// Signal's fingerprints do; it costs a few milliseconds once per display.
const safetyIterations = 5200

// SafetyNumber is the 60-digit number two people compare to check that
// neither side's primary key was substituted. It is the same on both sides
// (the halves are ordered by account id) and changes when either account's
// primary key changes. Linked devices need no number of their own: the
// primary signs them into the key log.
func SafetyNumber(accountA string, keyA ed25519.PublicKey, accountB string, keyB ed25519.PublicKey) string {
	a, b := fingerprint(accountA, keyA), fingerprint(accountB, keyB)
	if accountA > accountB {
		a, b = b, a
	}
	return a + " " + b
}

// fingerprint renders 30 digits, in six groups of five, for one account.
func fingerprint(account string, key ed25519.PublicKey) string {
	h := sha512.New()
	sum := append([]byte("parley-safety-v1\x00"), key...)
	for range safetyIterations {
		h.Reset()
		h.Write(sum)
		h.Write(key)
		h.Write([]byte(account))
		sum = h.Sum(sum[:0])
	}
	groups := make([]string, 6)
	for i := range groups {
		var five [8]byte
		copy(five[3:], sum[i*5:i*5+5])
		groups[i] = fmt.Sprintf("%05d", binary.BigEndian.Uint64(five[:])%100000)
	}
	return strings.Join(groups, " ")
}
