package identity

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

func TestCanonicalHandle(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"@alice", "@alice", true},
		{"@Alice_1.x", "@alice_1.x", true},
		{"alice", "", false},
		{"@al", "", false},
		{"@" + strings.Repeat("a", 31), "", false},
		{"@1alice", "", false},
		{"@ali ce", "", false},
		{"@ali..ce", "", false},
		{"@alice.", "", false},
		{"@élise", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := CanonicalHandle(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CanonicalHandle(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidHandle) {
			t.Errorf("CanonicalHandle(%q) error %v does not wrap ErrInvalidHandle", tt.in, err)
		}
	}
}

func TestAuthSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	id := DeviceID(pub)
	if !strings.HasPrefix(id, "d") || len(id) != 17 {
		t.Fatalf("device id %q", id)
	}
	ch := []byte("0123456789abcdef0123456789abcdef")
	sig := ed25519.Sign(priv, AuthMessage(ch, id))
	if !VerifyAuth(pub, ch, id, sig) {
		t.Fatal("valid signature rejected")
	}
	other := []byte("fedcba9876543210fedcba9876543210")
	if VerifyAuth(pub, other, id, sig) {
		t.Fatal("signature over another challenge accepted")
	}
	pub2, _, _ := ed25519.GenerateKey(nil)
	if VerifyAuth(pub2, ch, DeviceID(pub2), sig) {
		t.Fatal("signature accepted for another device")
	}
	if VerifyAuth(pub, ch, DeviceID(pub2), sig) {
		t.Fatal("device id not bound to key")
	}
}

// account is a test account whose primary signs successive device lists.
type account struct {
	id      string
	primary ed25519.PrivateKey
	devices []*proto.Device
	log     []*proto.KeyLogEntry
}

func newAccount(t *testing.T) *account {
	pub, priv, _ := ed25519.GenerateKey(nil)
	a := &account{id: AccountID(pub), primary: priv}
	a.devices = []*proto.Device{{DeviceId: DeviceID(pub), SigningKey: pub, Primary: true}}
	a.append(t)
	return a
}

func (a *account) append(t *testing.T) {
	t.Helper()
	l := &proto.DeviceList{AccountId: a.id, Handle: "@alice", Version: uint64(len(a.log) + 1), Devices: a.devices}
	s, err := SignDeviceList(a.primary, l)
	if err != nil {
		t.Fatal(err)
	}
	e := &proto.KeyLogEntry{Index: uint64(len(a.log)), DeviceList: s, TimeMs: int64(1000 * len(a.log))}
	if len(a.log) > 0 {
		e.PrevHash = EntryHash(a.log[len(a.log)-1])
	}
	a.log = append(a.log, e)
}

func (a *account) link(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	a.devices = append(a.devices, &proto.Device{DeviceId: DeviceID(pub), SigningKey: pub})
	a.append(t)
}

func clone(e *proto.KeyLogEntry) *proto.KeyLogEntry { return gproto.Clone(e).(*proto.KeyLogEntry) }

func TestVerifyLog(t *testing.T) {
	a := newAccount(t)
	a.link(t)
	a.link(t)
	head, err := VerifyLog(a.id, a.log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if head.Index != 2 || len(head.List.Devices) != 3 {
		t.Fatalf("head index %d with %d devices", head.Index, len(head.List.Devices))
	}

	// Incremental: from the trusted head onwards.
	a.link(t)
	head2, err := VerifyLog(a.id, a.log[2:], head)
	if err != nil || head2.Index != 3 {
		t.Fatalf("incremental verify: %v", err)
	}

	// A device added by someone without the primary key.
	rogue := newAccount(t)
	forged := clone(a.log[3])
	forged.DeviceList.Signature = ed25519.Sign(rogue.primary, DeviceListMessage(forged.DeviceList.List))
	if _, err := VerifyLog(a.id, []*proto.KeyLogEntry{a.log[2], forged}, head); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged entry: %v", err)
	}

	// A rewritten history (fork) from the trusted head.
	other := clone(a.log[2])
	other.TimeMs++
	if _, err := VerifyLog(a.id, []*proto.KeyLogEntry{other}, head); !errors.Is(err, ErrForked) {
		t.Fatalf("fork: %v", err)
	}

	// A broken link.
	broken := clone(a.log[3])
	broken.PrevHash = []byte("nope")
	if _, err := VerifyLog(a.id, []*proto.KeyLogEntry{a.log[2], broken}, head); !errors.Is(err, ErrBrokenChain) {
		t.Fatalf("broken link: %v", err)
	}

	// Rollback: nothing from the trusted head on.
	if _, err := VerifyLog(a.id, nil, head2); !errors.Is(err, ErrRollback) {
		t.Fatalf("rollback: %v", err)
	}

	// Wrong account and non-zero start without trust.
	if _, err := VerifyLog("other", a.log, nil); !errors.Is(err, ErrBrokenChain) {
		t.Fatalf("wrong account: %v", err)
	}
	// A self-signed log made by someone else under a's account id.
	impostor := newAccount(t)
	impostor.id = a.id
	impostor.log = nil
	impostor.append(t)
	if _, err := VerifyLog(a.id, impostor.log, nil); !errors.Is(err, ErrBrokenChain) {
		t.Fatalf("log under a borrowed account id: %v", err)
	}
	if _, err := VerifyLog(a.id, a.log[1:], nil); !errors.Is(err, ErrBrokenChain) {
		t.Fatalf("no anchor: %v", err)
	}
}

func TestParseDeviceListRules(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	pub2, _, _ := ed25519.GenerateKey(nil)
	ok := &proto.Device{DeviceId: DeviceID(pub), SigningKey: pub, Primary: true}
	tests := []struct {
		name    string
		devices []*proto.Device
	}{
		{"empty", nil},
		{"no primary", []*proto.Device{{DeviceId: DeviceID(pub), SigningKey: pub}}},
		{"two primaries", []*proto.Device{ok, {DeviceId: DeviceID(pub2), SigningKey: pub2, Primary: true}}},
		{"id not from key", []*proto.Device{{DeviceId: DeviceID(pub2), SigningKey: pub, Primary: true}}},
		{"duplicate", []*proto.Device{ok, ok}},
		{"too many", []*proto.Device{ok, dev(), dev(), dev(), dev(), dev()}},
	}
	for _, tt := range tests {
		s, _ := SignDeviceList(priv, &proto.DeviceList{Devices: tt.devices})
		if _, err := ParseDeviceList(s); !errors.Is(err, ErrBadList) {
			t.Errorf("%s: err = %v, want ErrBadList", tt.name, err)
		}
	}
	if _, err := ParseDeviceList(&proto.SignedDeviceList{List: []byte{0xff, 0xff}}); !errors.Is(err, ErrBadList) {
		t.Errorf("garbage: %v", err)
	}
}

func dev() *proto.Device {
	pub, _, _ := ed25519.GenerateKey(nil)
	return &proto.Device{DeviceId: DeviceID(pub), SigningKey: pub}
}

func TestSafetyNumberSymmetricAndKeyBound(t *testing.T) {
	a, _, _ := ed25519.GenerateKey(nil)
	b, _, _ := ed25519.GenerateKey(nil)
	c, _, _ := ed25519.GenerateKey(nil)
	ab := SafetyNumber("A", a, "B", b)
	if ba := SafetyNumber("B", b, "A", a); ab != ba {
		t.Fatalf("not symmetric: %s vs %s", ab, ba)
	}
	if len(strings.ReplaceAll(ab, " ", "")) != 60 {
		t.Fatalf("want 60 digits: %q", ab)
	}
	if SafetyNumber("A", a, "B", c) == ab {
		t.Fatal("safety number did not change with the key")
	}
}

func FuzzParseDeviceList(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(nil)
	s, _ := SignDeviceList(priv, &proto.DeviceList{AccountId: "a", Version: 1, Devices: []*proto.Device{dev()}})
	f.Add(s.List)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseDeviceList(&proto.SignedDeviceList{List: b})
		if err == nil && Primary(l) == nil {
			t.Fatal("accepted a list without a primary")
		}
	})
}
