package channel

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"github.com/parleyhq/parley/proto"
)

// idEncoding is lower-case base32 without padding, as for device ids:
// channel ids and invite codes are typed and read by people.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idChars is the number of base32 characters after the prefix of a
// channel id and the length of an invite code (80 bits each).
const idChars = 16

// ID derives a channel's id from the public key of its first key-chain
// entry: "c" followed by 16 base32 characters (80 bits of SHA-256), like
// identity.DeviceID. Deriving it lets the owner's device sign the channel's
// first info before the server has answered, and ties the id to the key
// that starts the chain, so a server cannot swap a channel's history for
// another one under the same id.
func ID(first ed25519.PublicKey) string {
	sum := sha256.Sum256(first)
	return "c" + idEncoding.EncodeToString(sum[:10])
}

// ValidID reports whether id has the form of a channel id.
func ValidID(id string) bool {
	return len(id) == 1+idChars && id[0] == 'c' && base32Chars(id[1:])
}

// ValidInviteCode reports whether code has the form of an invite code.
func ValidInviteCode(code string) bool {
	return len(code) == idChars && base32Chars(code)
}

func base32Chars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// NewInviteCode encodes 10 random bytes as an invite code. The server
// calls it with crypto/rand bytes.
func NewInviteCode(random [10]byte) string {
	return idEncoding.EncodeToString(random[:])
}

// linkPrefix starts every invite link. Links are scheme-qualified so a
// client can recognise one pasted anywhere; the server's address is not in
// it because the follower's client already knows its server.
const linkPrefix = "parley://channel/"

// InviteLink is the shareable form of an invite code.
func InviteLink(code string) string { return linkPrefix + code }

// ParseInviteLink accepts an invite link, a bare code, or any URL whose
// last path segment is a code (a web page may wrap it, e.g.
// https://example.org/c/<code>), and returns the code.
func ParseInviteLink(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 512 {
		return "", proto.Errorf(proto.Code_BAD_REQUEST, "an invite link is at most 512 characters")
	}
	code := s
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		code = s[i+1:]
	}
	if j := strings.IndexAny(code, "?#"); j >= 0 {
		code = code[:j]
	}
	code = strings.ToLower(code)
	if !ValidInviteCode(code) {
		return "", proto.Errorf(proto.Code_BAD_REQUEST, "%q is not a channel invite link; it should look like %s<16 letters and digits>", s, linkPrefix)
	}
	return code, nil
}
