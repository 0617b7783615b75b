package nats

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/parleyhq/parley/bus"
)

// Bounds of the encoding. Messages come only from other nodes of the
// cluster, but a decoder still checks every length before it slices.
const (
	// maxReason bounds KindClose's Reason (a sentence for a person).
	maxReason = 4 << 10
	// maxExcept bounds KindClose's Except (a connection id).
	maxExcept = 256
)

var errMalformed = errors.New("bus/nats: malformed message")

// encode serializes m: one byte of Kind, then the Kind's fields
// (KindMail: uvarint Seq; KindFrame: the frame as the rest of the
// payload; KindClose: varint Code, then Reason and Except each as a
// uvarint length and the bytes).
func encode(m bus.Message) ([]byte, error) {
	switch m.Kind {
	case bus.KindMail:
		return binary.AppendUvarint([]byte{byte(m.Kind)}, m.Seq), nil
	case bus.KindFrame:
		b := make([]byte, 1, 1+len(m.Frame))
		b[0] = byte(m.Kind)
		return append(b, m.Frame...), nil
	case bus.KindClose:
		if len(m.Reason) > maxReason || len(m.Except) > maxExcept {
			return nil, fmt.Errorf("bus/nats: close message too long (reason %d bytes, except %d)", len(m.Reason), len(m.Except))
		}
		b := make([]byte, 1, 1+binary.MaxVarintLen32+2*binary.MaxVarintLen16+len(m.Reason)+len(m.Except))
		b[0] = byte(m.Kind)
		b = binary.AppendVarint(b, int64(m.Code))
		b = binary.AppendUvarint(b, uint64(len(m.Reason)))
		b = append(b, m.Reason...)
		b = binary.AppendUvarint(b, uint64(len(m.Except)))
		return append(b, m.Except...), nil
	}
	return nil, fmt.Errorf("bus/nats: cannot encode message kind %d", m.Kind)
}

// decode parses what encode wrote. The returned Frame aliases b.
func decode(b []byte) (bus.Message, error) {
	if len(b) == 0 {
		return bus.Message{}, errMalformed
	}
	m := bus.Message{Kind: bus.Kind(b[0])}
	rest := b[1:]
	switch m.Kind {
	case bus.KindMail:
		seq, n := binary.Uvarint(rest)
		if n <= 0 || n != len(rest) {
			return bus.Message{}, errMalformed
		}
		m.Seq = seq
	case bus.KindFrame:
		m.Frame = rest
	case bus.KindClose:
		code, n := binary.Varint(rest)
		if n <= 0 || code != int64(int32(code)) {
			return bus.Message{}, errMalformed
		}
		m.Code = int32(code)
		rest = rest[n:]
		var reason, except []byte
		if reason, rest = lengthPrefixed(rest, maxReason); reason == nil {
			return bus.Message{}, errMalformed
		}
		if except, rest = lengthPrefixed(rest, maxExcept); except == nil || len(rest) != 0 {
			return bus.Message{}, errMalformed
		}
		m.Reason, m.Except = string(reason), string(except)
	default:
		return bus.Message{}, errMalformed
	}
	return m, nil
}

// lengthPrefixed splits a uvarint-prefixed field of at most max bytes off
// b. The field is nil when malformed (an empty field is non-nil).
func lengthPrefixed(b []byte, max int) (field, rest []byte) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(max) || l > uint64(len(b)-n) {
		return nil, b
	}
	b = b[n:]
	return b[:l:l], b[l:]
}
