package identity

import (
	"errors"
	"fmt"
	"strings"
)

// Handle rules: "@" then 3 to 30 characters of a-z, 0-9, "_" and ".",
// starting with a letter, no "..". Handles are case-insensitive and stored
// lower-case, so "@Alice" and "@alice" are one account.
const (
	MinHandleLen = 3
	MaxHandleLen = 30
)

// ErrInvalidHandle is wrapped by every handle-rule violation.
var ErrInvalidHandle = errors.New("invalid handle")

// CanonicalHandle checks h against the handle rules and returns its
// canonical lower-case form. The error says what to change.
func CanonicalHandle(h string) (string, error) {
	name, ok := strings.CutPrefix(h, "@")
	if !ok {
		return "", fmt.Errorf("%w: %q must start with @, like @alice", ErrInvalidHandle, h)
	}
	name = strings.ToLower(name)
	if n := len(name); n < MinHandleLen || n > MaxHandleLen {
		return "", fmt.Errorf("%w: %q must have %d to %d characters after @", ErrInvalidHandle, h, MinHandleLen, MaxHandleLen)
	}
	if c := name[0]; c < 'a' || c > 'z' {
		return "", fmt.Errorf("%w: %q must start with a letter after @", ErrInvalidHandle, h)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return "", fmt.Errorf("%w: %q may only contain letters, digits, _ and .", ErrInvalidHandle, h)
		}
	}
	if strings.Contains(name, "..") || strings.HasSuffix(name, ".") {
		return "", fmt.Errorf("%w: %q may not contain .. or end with .", ErrInvalidHandle, h)
	}
	return "@" + name, nil
}
