package directory

import (
	"encoding/base32"
	"fmt"
	"io"
	"strings"
)

const (
	// linkCodeDigits: 10^8 codes, valid for ten minutes, looked up only
	// by authenticated primary devices under a request rate limit, and
	// an approval still needs the primary's signature over the new
	// device's key, which the user sees.
	linkCodeDigits = 8
	// maxCodeAttempts bounds the search for an unused link code.
	maxCodeAttempts = 5
	// inviteCodeBytes: 80 random bits, for codes handed around by people.
	inviteCodeBytes = 10
)

var inviteEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// digits returns n uniformly random decimal digits.
func (s *Service) digits(n int) (string, error) {
	var b strings.Builder
	var buf [1]byte
	for b.Len() < n {
		if _, err := io.ReadFull(s.rand, buf[:]); err != nil {
			return "", fmt.Errorf("directory: random code: %w", err)
		}
		// Rejection sampling keeps digits uniform: 250 = 25 × 10.
		if buf[0] < 250 {
			b.WriteByte('0' + buf[0]%10)
		}
	}
	return b.String(), nil
}

// inviteCode returns a random invite code.
func (s *Service) inviteCode() (string, error) {
	var b [inviteCodeBytes]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("directory: random invite: %w", err)
	}
	return inviteEncoding.EncodeToString(b[:]), nil
}

// normalizeCode drops the spaces and dashes people type into codes and
// lower-cases them.
func normalizeCode(c string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(c))
}
