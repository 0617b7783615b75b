// Package submission holds the rules both SQL stores apply to a message
// submission before and while writing it, so the two stores cannot drift
// apart on what they accept or on how long a message id stays claimed.
package submission

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/internal/unixnano"
)

// Check refuses what no caller should send; a store fails the whole batch
// on it before anything is written.
func Check(sender string, id []byte, mail []store.Mail) error {
	if sender == "" || len(id) == 0 {
		return errors.New("submission without sender device or message id")
	}
	for _, m := range mail {
		if m.DeviceID == "" || m.Envelope == nil {
			return fmt.Errorf("message %x: mail without device or envelope", id)
		}
	}
	return nil
}

// SeenAt is when a message id counts as seen, in Unix nanoseconds: the
// caller's time, or when it has none, the time its mail was written as
// implied by the mail's TTL.
func SeenAt(at time.Time, mail []store.Mail) int64 {
	if !at.IsZero() {
		return unixnano.From(at)
	}
	var latest time.Time
	for _, m := range mail {
		if m.Expires.After(latest) {
			latest = m.Expires
		}
	}
	if latest.IsZero() {
		return 0
	}
	return unixnano.From(latest.Add(-proto.MailboxTTL))
}
