package channels

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/parleyhq/parley/store"
)

// Media tokens are bearer tokens for the media HTTP endpoints, made over
// the authenticated WebSocket: version, expiry, the channel the bearer
// may upload to ("" for download only), and an HMAC under a secret every
// node shares through the store, so a token made on one node works on
// any.
const (
	tokenVersion  = 1
	tokenMACBytes = 16
	secretName    = "media-token-v1"
)

// Tokens makes and checks media tokens.
type Tokens struct{ secret []byte }

// NewTokens loads (or creates) the shared secret.
func NewTokens(ctx context.Context, st store.Store, rand io.Reader) (*Tokens, error) {
	candidate := make([]byte, 32)
	if _, err := io.ReadFull(rand, candidate); err != nil {
		return nil, fmt.Errorf("channels: media token secret: %w", err)
	}
	secret, err := st.Secret(ctx, secretName, candidate)
	if err != nil {
		return nil, fmt.Errorf("channels: media token secret: %w", err)
	}
	return &Tokens{secret: secret}, nil
}

func (t *Tokens) mac(b []byte) []byte {
	m := hmac.New(sha256.New, t.secret)
	m.Write(b)
	return m.Sum(nil)[:tokenMACBytes]
}

// Make returns a token valid until exp; upload names the channel the
// bearer may upload to ("" for none).
func (t *Tokens) Make(upload string, exp time.Time) string {
	b := []byte{tokenVersion}
	b = binary.BigEndian.AppendUint64(b, uint64(exp.UnixMilli()))
	b = append(b, byte(len(upload)))
	b = append(b, upload...)
	b = append(b, t.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Check verifies a token at now and returns the channel it may upload to.
func (t *Tokens) Check(token string, now time.Time) (upload string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 1+8+1+tokenMACBytes || b[0] != tokenVersion {
		return "", fmt.Errorf("not a media token")
	}
	n := int(b[9])
	if len(b) != 10+n+tokenMACBytes {
		return "", fmt.Errorf("not a media token")
	}
	body, mac := b[:10+n], b[10+n:]
	if !hmac.Equal(mac, t.mac(body)) {
		return "", fmt.Errorf("the media token is not this server's")
	}
	if exp := time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:9]))); !exp.After(now) {
		return "", fmt.Errorf("the media token expired; get a new one")
	}
	return string(b[10 : 10+n]), nil
}
