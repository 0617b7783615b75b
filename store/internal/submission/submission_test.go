package submission

import (
	"testing"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

func TestCheck(t *testing.T) {
	ok := []store.Mail{{DeviceID: "d", Envelope: []byte{1}}}
	for _, c := range []struct {
		name   string
		sender string
		id     []byte
		mail   []store.Mail
		valid  bool
	}{
		{"valid", "s", []byte{1}, ok, true},
		{"no mail", "s", []byte{1}, nil, true},
		{"no sender", "", []byte{1}, ok, false},
		{"no id", "s", nil, ok, false},
		{"no device", "s", []byte{1}, []store.Mail{{Envelope: []byte{1}}}, false},
		{"no envelope", "s", []byte{1}, []store.Mail{{DeviceID: "d"}}, false},
	} {
		if err := Check(c.sender, c.id, c.mail); (err == nil) != c.valid {
			t.Errorf("%s: Check = %v, want valid %v", c.name, err, c.valid)
		}
	}
}

func TestSeenAt(t *testing.T) {
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	if got := SeenAt(at, nil); got != unixnano.From(at) {
		t.Errorf("SeenAt(at) = %d, want the caller's time", got)
	}
	if got := SeenAt(time.Time{}, nil); got != 0 {
		t.Errorf("SeenAt with no time and no mail = %d, want 0", got)
	}
	mail := []store.Mail{{Expires: at}, {Expires: at.Add(time.Hour)}, {}}
	if got, want := SeenAt(time.Time{}, mail), unixnano.From(at.Add(time.Hour-proto.MailboxTTL)); got != want {
		t.Errorf("SeenAt from the mail = %d, want the latest expiry less the TTL (%d)", got, want)
	}
}
