package client

import (
	"time"

	"github.com/parleyhq/parley/client/profile"
	"github.com/parleyhq/parley/proto"
)

// Message is one text message of the local history.
type Message = profile.Message

// Event is something that happened, delivered on Client.Events. The
// concrete types are MessageEvent, ReceiptEvent, TypingEvent,
// KeyChangeEvent, DeviceEvent and ConnectionEvent.
type Event interface{ event() }

// MessageEvent is a text message, already stored in the profile. Outgoing
// is set for messages sent by another device of this account.
type MessageEvent struct{ Message Message }

// ReceiptEvent reports that a peer's device received or read messages.
type ReceiptEvent struct {
	From       string // handle
	Kind       proto.Receipt_Kind
	MessageIDs [][]byte
	GroupID    []byte
}

// TypingEvent is a peer's typing indicator (never stored anywhere).
type TypingEvent struct {
	From    string // handle
	Typing  bool
	GroupID []byte
}

// KeyChangeEvent warns that an account's verified devices changed since
// this device last checked, or that its key log could not be verified
// (Err set: the server may be lying; messages to it are refused).
type KeyChangeEvent struct {
	Handle    string
	AccountID string
	Added     []string // device ids
	Removed   []string
	Err       error
}

// DeviceEvent reports a change to this account's own devices.
type DeviceEvent struct {
	DeviceID string
	Linked   bool // false: revoked
	// Self is set when this very device was revoked: the client stops.
	Self bool
}

// ConnectionEvent reports the connection state.
type ConnectionEvent struct {
	Connected bool
	Err       error // why it went down (nil when connected)
	Retry     time.Duration
}

func (MessageEvent) event()    {}
func (ReceiptEvent) event()    {}
func (TypingEvent) event()     {}
func (KeyChangeEvent) event()  {}
func (DeviceEvent) event()     {}
func (ConnectionEvent) event() {}

func timeMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
