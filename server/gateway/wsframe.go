package gateway

import (
	"encoding/binary"
	"errors"
)

// WebSocket framing (RFC 6455 §5), server side. The parser is incremental:
// it is fed whatever bytes one read returned and keeps only what a frame
// still needs, so an idle connection holds no buffer, and it checks a
// data frame's declared length against the limit as soon as the header is
// complete, before reading or allocating any of the payload.

// Opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

const (
	// maxControlPayload is the RFC's bound on a control frame's payload.
	maxControlPayload = 125
	// maxHeader is the longest client frame header: 2 bytes, an 8-byte
	// length and the 4-byte mask key.
	maxHeader = 14
	// payloadChunk is the most a partial message's buffer grows ahead of
	// the bytes that actually arrived: a peer that declares a large frame
	// and sends nothing costs nothing.
	payloadChunk = 16 << 10
)

// WebSocket close statuses used besides 4000+proto.Code.
const (
	statusNormal        = 1000
	statusProtocolError = 1002
	statusNoStatus      = 1005 // never sent: "the close frame had no status"
)

// errTooLarge marks a message whose declared length passes the limit.
var errTooLarge = errors.New("frame over the size limit")

// protocolError is a violation of RFC 6455 itself; the connection is
// closed with status 1002 and this text.
type protocolError string

func (e protocolError) Error() string { return "websocket: " + string(e) }

// frameReader assembles the messages a client sends. It is used by one
// goroutine at a time (the connection's poller or reader).
type frameReader struct {
	hdr    [maxHeader]byte
	hdrLen uint8 // header bytes collected so far
	inBody bool  // the header is complete; payload bytes follow

	// The current frame.
	op   byte
	fin  bool
	mask [4]byte
	pos  uint64 // payload bytes read, for the mask phase
	left uint64 // payload bytes still to read
	ctrl []byte // payload of a control frame (≤ 125 bytes)

	// The current message, possibly fragmented over several frames.
	msgOp byte // opBinary or opText; 0 between messages
	msg   []byte
	want  int // declared bytes of msg so far (its final size if fin)
}

// idle reports whether the reader holds nothing: no partial frame.
func (r *frameReader) idle() bool { return r.hdrLen == 0 && !r.inBody && r.msgOp == 0 }

// reset drops any partial frame and message.
func (r *frameReader) reset() { *r = frameReader{} }

// feed parses data. For every complete message it calls emit with the
// message's opcode (opBinary or opText) and payload, and for every
// control frame with its opcode and payload; payloads are freshly
// allocated and belong to emit. emit returns false to stop parsing (the
// rest of data is dropped). feed returns errTooLarge when a data frame's
// declared length would take the message past limit, or a protocolError.
func (r *frameReader) feed(data []byte, limit int, emit func(op byte, payload []byte) bool) error {
	for len(data) > 0 {
		if !r.inBody {
			n, err := r.header(data, limit)
			if err != nil {
				return err
			}
			data = data[n:]
			if !r.inBody {
				return nil // the header continues in the next read
			}
			if r.left == 0 && !r.frameDone(emit) {
				return nil
			}
			continue
		}
		n := int(min(r.left, uint64(len(data))))
		chunk := data[:n]
		data = data[n:]
		if r.op >= opClose {
			start := len(r.ctrl)
			r.ctrl = append(r.ctrl, chunk...)
			unmask(r.mask, r.pos, r.ctrl[start:])
		} else {
			start := len(r.msg)
			r.msg = growPayload(r.msg, n, r.want)
			r.msg = append(r.msg, chunk...)
			unmask(r.mask, r.pos, r.msg[start:])
		}
		r.pos += uint64(n)
		r.left -= uint64(n)
		if r.left == 0 && !r.frameDone(emit) {
			return nil
		}
	}
	return nil
}

// header collects header bytes from data and, once the header is
// complete, validates it. It returns how many bytes of data it used.
func (r *frameReader) header(data []byte, limit int) (int, error) {
	used := 0
	need := 2
	for {
		if int(r.hdrLen) >= 2 {
			if r.hdr[1]&0x80 == 0 {
				// Refused before the rest of the header: its size
				// would be computed without the mask key.
				return used, protocolError("client frames must be masked")
			}
			need = headerSize(r.hdr[1])
		}
		if int(r.hdrLen) >= need {
			break
		}
		if used == len(data) {
			return used, nil
		}
		c := copy(r.hdr[r.hdrLen:need], data[used:])
		r.hdrLen += uint8(c)
		used += c
	}
	b0, b1 := r.hdr[0], r.hdr[1]
	var length uint64
	switch n := b1 & 0x7f; n {
	case 126:
		length = uint64(binary.BigEndian.Uint16(r.hdr[2:4]))
	case 127:
		length = binary.BigEndian.Uint64(r.hdr[2:10])
	default:
		length = uint64(n)
	}
	copy(r.mask[:], r.hdr[need-4:need])
	r.hdrLen = 0
	op, fin := b0&0x0f, b0&0x80 != 0
	switch {
	case b0&0x70 != 0:
		return used, protocolError("reserved bits set without a negotiated extension")
	case op >= opClose:
		if op != opClose && op != opPing && op != opPong {
			return used, protocolError("unknown control opcode")
		}
		if !fin || length > maxControlPayload {
			return used, protocolError("control frames must be single frames of at most 125 bytes")
		}
	case op == opContinuation:
		if r.msgOp == 0 {
			return used, protocolError("continuation frame without a message to continue")
		}
	case op == opText || op == opBinary:
		if r.msgOp != 0 {
			return used, protocolError("new message before the previous one was finished")
		}
		r.msgOp = op
	default:
		return used, protocolError("unknown data opcode")
	}
	if op < opClose {
		// The size check on the declared length: nothing of the
		// payload has been read or allocated yet.
		if length > uint64(limit-r.want) {
			return used, errTooLarge
		}
		r.want += int(length)
	}
	r.op, r.fin, r.pos, r.left, r.inBody = op, fin, 0, length, true
	return used, nil
}

// frameDone ends the current frame and emits what it completed.
func (r *frameReader) frameDone(emit func(byte, []byte) bool) bool {
	r.inBody = false
	if r.op >= opClose {
		p := r.ctrl
		r.ctrl = nil
		return emit(r.op, p)
	}
	if !r.fin {
		return true
	}
	op, p := r.msgOp, r.msg
	r.msgOp, r.msg, r.want = 0, nil, 0
	return emit(op, p)
}

// headerSize is the size of a client frame header given its second byte.
func headerSize(b1 byte) int {
	n := 2 + 4 // the mask key, which clients must send
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n
}

// growPayload makes room for n more bytes in msg, whose message will hold
// want bytes in total: it grows with what arrives (doubling, capped at
// want) rather than to the declared size at once.
func growPayload(msg []byte, n, want int) []byte {
	need := len(msg) + n
	if need <= cap(msg) {
		return msg
	}
	size := max(need, min(want, max(2*cap(msg), payloadChunk)))
	grown := make([]byte, len(msg), size)
	copy(grown, msg)
	return grown
}

// unmask XORs b with the mask key, starting at payload offset pos.
func unmask(key [4]byte, pos uint64, b []byte) {
	var k [4]byte
	for i := range k {
		k[i] = key[(pos+uint64(i))&3]
	}
	k32 := binary.LittleEndian.Uint32(k[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= k[i&3]
	}
}

// appendFrame appends one unfragmented, unmasked server frame.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	dst = append(dst, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, payload...)
}

// encodeFrame returns payload as one server frame in a new buffer.
func encodeFrame(op byte, payload []byte) []byte {
	return appendFrame(make([]byte, 0, len(payload)+10), op, payload)
}

// closePayload is a close frame's payload: the status and a reason cut to
// what fits in a control frame.
func closePayload(status int, reason string) []byte {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(status))
	return append(p, reason...)
}

// maxCloseReason is what fits in a WebSocket close frame (125 bytes of
// control payload minus the 2-byte status).
const maxCloseReason = maxControlPayload - 2
