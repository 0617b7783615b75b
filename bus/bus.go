// Package bus routes small messages to the connection of one device,
// wherever that connection lives: in this process (bus/local) or on another
// node of the cluster (bus/nats, later).
//
// The bus is a wake-up and signalling channel, not storage. Mail is made
// durable in the store first and only then announced on the bus, so a
// message lost by the bus (node crash, no subscriber, a full subscriber)
// costs latency, never mail: the device finds it in its mailbox on its next
// fetch or reconnect. That is why Publish is at-most-once and subscribers
// must not block.
//
// Routing is by device id, which maps onto one subject per device in NATS
// ("parley.dev.<device id>"); a node subscribes for the devices connected to
// it and unsubscribes when they leave.
package bus

import (
	"context"
	"errors"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("bus: closed")

// Kind says what a Message asks the device's connection to do.
type Kind uint8

const (
	// KindMail: the device's mailbox has entries up to Seq; fetch and push.
	// Seq 0 means "there may be mail": a network bus may send it at any
	// time a wake-up may have been lost (after an outage, shortly after a
	// subscription), so subscribers treat it as a hint to fetch.
	KindMail Kind = iota + 1
	// KindFrame: push Frame (a serialized proto.Frame, typically an
	// Event with seq 0: an ephemeral envelope or LinkApproved) as is.
	KindFrame
	// KindClose: close the device's connection with Code (a proto.Code)
	// and Reason, except the connection whose id is Except.
	KindClose
)

func (k Kind) String() string {
	switch k {
	case KindMail:
		return "mail"
	case KindFrame:
		return "frame"
	case KindClose:
		return "close"
	}
	return "unknown"
}

// Message is one routed signal. Only the fields of its Kind are set. It is
// a plain value so that distributed implementations can encode it.
type Message struct {
	Kind Kind
	Seq  uint64 // KindMail
	// Envelope (KindMail, optional) is the envelope of entry Seq when the
	// write that signals it put no other entry in this device's mailbox,
	// so a connection that has pushed everything up to Seq-1 can push it
	// without reading the mailbox. A bus may drop it (bus/nats does: it
	// carries wake-ups only); subscribers must not modify it.
	Envelope []byte
	Frame    []byte // KindFrame; subscribers must not modify it
	Code     int32  // KindClose: a proto.Code
	Reason   string // KindClose: for a person
	Except   string // KindClose: connection id that must ignore the message
}

// Bus routes Messages to subscribers by device id.
//
// Ordering: messages published by one goroutine for one device reach each
// subscriber in publication order. Nothing is promised across publishers.
type Bus interface {
	// Subscribe calls fn for every message published for deviceID until
	// the returned unsubscribe function is called (safe to call more than
	// once). Several subscribers of one device each get every message. fn
	// runs on the bus's goroutine or the publisher's: it must return
	// quickly and must not call Publish or unsubscribe itself.
	Subscribe(deviceID string, fn func(Message)) (unsubscribe func(), err error)
	// Publish routes m to the current subscribers of deviceID, if any. A
	// nil error means the bus accepted the message, not that anybody got
	// it.
	Publish(ctx context.Context, deviceID string, m Message) error
	// Close releases the bus. Publish and Subscribe fail with ErrClosed
	// afterwards. Close waits until no subscriber callback is running.
	Close() error
}

// Prober is implemented by buses that can tell whether a device has a
// subscriber anywhere on the bus, on this node or another. The server
// uses it for presence: a device is online exactly while its connection
// is subscribed, so the devices of a crashed node go offline with its
// subscriptions, with no heartbeat to expire.
type Prober interface {
	// Subscribed reports whether deviceID has at least one subscriber. A
	// network bus may take until ctx ends (or its own short bound) to
	// answer; an error means it could not ask (for example while
	// disconnected), not that the device is offline.
	Subscribed(ctx context.Context, deviceID string) (bool, error)
}

// ChannelRouter is implemented by buses that also route by channel topic
// (a broadcast channel's id; "parley.chan.<channel id>" on NATS): every
// node with connected followers of a channel subscribes to its topic once
// and fans the message out to its own connections, so a post reaches the
// followers on every node with one publication, whatever their number.
// The same rules as Bus apply: at-most-once (followers catch up with
// ChannelSync), callbacks quick and non-blocking, one publisher's messages
// in order.
//
// The server uses it when the bus implements it; a bus that does not
// only notifies the followers connected to the publishing node.
type ChannelRouter interface {
	// SubscribeChannel calls fn for every message published to channelID
	// until unsubscribe is called (safe to call more than once).
	SubscribeChannel(channelID string, fn func(Message)) (unsubscribe func(), err error)
	// PublishChannel routes m to the current subscribers of channelID.
	PublishChannel(ctx context.Context, channelID string, m Message) error
}
