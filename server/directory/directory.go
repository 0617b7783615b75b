// Package directory is the server's record of who is who: accounts with
// unique handles, their devices and the device lists the primary device
// signs, the hash-chained key log those lists form, MLS key packages,
// registration invites, device linking, contacts, blocks and presence.
//
// The directory checks every signed device list it accepts against the
// change being made (one device more on link, one fewer on revoke, version
// plus one, signed by the primary), but it cannot forge one: clients
// verify the whole key log themselves (identity.VerifyLog), so the
// directory's checks keep garbage out rather than being the security
// boundary.
//
// Every error a device can cause is a *proto.Error with a message that
// says what to do; anything else is a server fault, logged by the gateway
// and answered INTERNAL.
package directory

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"unicode/utf8"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/metrics"
	"github.com/parleyhq/parley/store"
)

// Policy is who may create an account.
type Policy string

const (
	PolicyOpen   Policy = "open"   // anyone
	PolicyInvite Policy = "invite" // with an operator's single-use invite code
	PolicyClosed Policy = "closed" // nobody (accounts exist already)
)

// Valid reports whether p is one of the policies.
func (p Policy) Valid() bool {
	return p == PolicyOpen || p == PolicyInvite || p == PolicyClosed
}

// Config configures a Service.
type Config struct {
	Store        store.Store
	Bus          bus.Bus
	Metrics      *metrics.Metrics
	Registration Policy
	// Online reports whether an account has a connected device (the
	// gateway's view); nil means nobody is ever online.
	Online func(accountID string) bool
	Clock  clock.Clock
	Logger *slog.Logger
	Rand   io.Reader // link and invite codes; nil means crypto/rand
}

// Service implements the directory requests.
type Service struct {
	st     store.Store
	bus    bus.Bus
	m      *metrics.Metrics
	policy Policy
	online func(string) bool
	clock  clock.Clock
	log    *slog.Logger
	rand   io.Reader
	// guesses limits failed link-code lookups per account; claimsBy and
	// claimsOf limit key-package claims per claiming and claimed account
	// (limits.go).
	guesses, claimsBy, claimsOf *window
	lastSeen                    lastSeenWriter
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Bus == nil || cfg.Metrics == nil {
		return nil, errors.New("directory: Store, Bus and Metrics are required")
	}
	if !cfg.Registration.Valid() {
		return nil, fmt.Errorf("directory: registration policy %q: want open, invite or closed", cfg.Registration)
	}
	s := &Service{
		st: cfg.Store, bus: cfg.Bus, m: cfg.Metrics, policy: cfg.Registration,
		online: cfg.Online, clock: clock.OrReal(cfg.Clock), log: cfg.Logger, rand: cfg.Rand,
		guesses:  newWindow(maxFailedLookups, lookupWindow),
		claimsBy: newWindow(maxClaimsByAccount, claimWindow),
		claimsOf: newWindow(maxClaimsOfAccount, claimWindow),
	}
	if s.online == nil {
		s.online = func(string) bool { return false }
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s, nil
}

// storeErr turns a store failure nobody could have caused from the
// outside into a coded error where one fits: an unreachable database is
// UNAVAILABLE (retry), the rest is a server fault for the log.
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &proto.Error{Code: proto.Code_UNAVAILABLE, Message: "storage is unavailable; retry in a moment"}
	}
	return fmt.Errorf("directory: %s: %w", op, err)
}

// checkVersion refuses a device that speaks another protocol version.
func checkVersion(v uint32) error {
	if v != proto.ProtocolVersion {
		return proto.Errorf(proto.Code_UNSUPPORTED_VERSION, "this server speaks protocol version %d, the device sent %d; upgrade the client", proto.ProtocolVersion, v)
	}
	return nil
}

// checkKey checks a public signing key's size and the connection proof.
func checkKey(key, challenge, sig []byte) (string, error) {
	if len(key) != ed25519.PublicKeySize {
		return "", proto.Errorf(proto.Code_BAD_REQUEST, "signing_key must be a %d-byte Ed25519 public key", ed25519.PublicKeySize)
	}
	id := identity.DeviceID(key)
	if !identity.VerifyAuth(key, challenge, id, sig) {
		return "", proto.Errorf(proto.Code_BAD_SIGNATURE, "the signature does not verify; sign identity.AuthMessage(challenge of this connection's Hello, device id)")
	}
	return id, nil
}

// checkDeviceName bounds a device's display name.
func checkDeviceName(name string) error {
	if len(name) > proto.MaxDeviceNameBytes {
		return proto.Errorf(proto.Code_TOO_LARGE, "device name is %d bytes; the limit is %d", len(name), proto.MaxDeviceNameBytes)
	}
	if !utf8.ValidString(name) {
		return proto.Errorf(proto.Code_BAD_REQUEST, "device name must be valid UTF-8")
	}
	return nil
}

// listErr maps a device-list verification failure to its code.
func listErr(err error) error {
	if errors.Is(err, identity.ErrBadSignature) {
		return proto.Errorf(proto.Code_BAD_SIGNATURE, "the device list is not signed by the account's primary device")
	}
	return proto.Errorf(proto.Code_BAD_REQUEST, "device list: %v", err)
}
