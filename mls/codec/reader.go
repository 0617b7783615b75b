package codec

import "encoding/binary"

// Reader decodes from a byte slice. It keeps the first error (sticky):
// after a failure every read returns zero values and Err reports the cause,
// so decoders can check once at the end.
//
// Slices returned by Raw and Opaque alias the input (with their capacity
// clipped, so appending to them never overwrites the input). Callers that
// hand the input buffer back for reuse must copy what they keep.
type Reader struct {
	b   []byte
	off int
	err error
}

// NewReader returns a Reader over b. It does not copy b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records err as the Reader's error unless one is already recorded.
// Decoders use it for semantic errors such as unknown enum values.
func (r *Reader) Fail(err error) {
	if r.err == nil && err != nil {
		r.err = &DecodeError{Offset: r.off, Err: err}
	}
}

// Empty reports whether no bytes remain. After an error it reports true, so
// loops of the form `for !r.Empty() { ... }` always terminate.
func (r *Reader) Empty() bool { return r.err != nil || r.off == len(r.b) }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) - r.off }

// Offset returns the number of bytes consumed so far.
func (r *Reader) Offset() int { return r.off }

// Since returns the input bytes consumed from offset off (an earlier
// Offset) up to now. Decoders use it to keep the exact encoding of a
// substructure, e.g. to hash or verify a signature over it.
func (r *Reader) Since(off int) []byte { return r.b[off:r.off:r.off] }

// Finish returns the sticky error, or ErrTrailingData if bytes remain.
func (r *Reader) Finish() error {
	if r.err == nil && r.off != len(r.b) {
		r.Fail(ErrTrailingData)
	}
	return r.err
}

// take consumes n bytes, or fails with ErrTruncated.
func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.Fail(ErrTruncated)
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

// Uint8 reads one octet.
func (r *Reader) Uint8() uint8 {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Uint16 reads a big-endian uint16.
func (r *Reader) Uint16() uint16 {
	b := r.take(2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

// Uint32 reads a big-endian uint32.
func (r *Reader) Uint32() uint32 {
	b := r.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Uint64 reads a big-endian uint64.
func (r *Reader) Uint64() uint64 {
	b := r.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Raw reads a fixed-size field of n bytes.
func (r *Reader) Raw(n int) []byte { return r.take(n) }

// Varint reads a minimal variable-length integer.
func (r *Reader) Varint() int {
	if r.err != nil {
		return 0
	}
	v, n, err := parseVarint(r.b[r.off:])
	if err != nil {
		r.Fail(err)
		return 0
	}
	r.off += n
	return v
}

// Opaque reads opaque x<V>. An empty vector yields a non-nil empty slice
// only if present in the input; callers should test len, not nil.
func (r *Reader) Opaque() []byte {
	n := r.Varint()
	return r.take(n)
}

// Optional reads an optional<T> presence octet.
func (r *Reader) Optional() bool {
	switch r.Uint8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.off-- // point the error at the offending octet
		r.Fail(ErrInvalidOptional)
		return false
	}
}

// Vector reads a length-prefixed vector and calls fn with a Reader over its
// contents. Contents fn leaves unread are an error (ErrTrailingData), as is
// any error fn records; either becomes this Reader's error. fn is not called
// if the prefix itself is bad.
func (r *Reader) Vector(fn func(r *Reader)) {
	n := r.Varint()
	start := r.off
	body := r.take(n)
	if r.err != nil {
		return
	}
	sub := Reader{b: body}
	fn(&sub)
	if err := sub.Finish(); err != nil && r.err == nil {
		if de, ok := err.(*DecodeError); ok {
			r.err = &DecodeError{Offset: start + de.Offset, Err: de.Err}
		} else {
			r.err = err
		}
	}
}
