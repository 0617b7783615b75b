package codec

import "encoding/binary"

// Writer accumulates an encoding. The zero value is an empty Writer ready
// to use. Writing never fails; a vector longer than MaxLength panics because
// no MLS structure can legitimately reach a gigabyte and callers bound their
// inputs long before that.
type Writer struct {
	buf []byte
}

// NewWriter returns a Writer whose buffer has room for size octets, saving
// reallocations when the caller knows roughly how much it will write.
func NewWriter(size int) *Writer { return &Writer{buf: make([]byte, 0, size)} }

// Bytes returns the encoding so far. The slice aliases the Writer's buffer
// until the next write.
func (w *Writer) Bytes() []byte { return w.buf }

// Len returns the number of octets written.
func (w *Writer) Len() int { return len(w.buf) }

// Uint8 writes one octet.
func (w *Writer) Uint8(v uint8) { w.buf = append(w.buf, v) }

// Uint16 writes v big-endian.
func (w *Writer) Uint16(v uint16) { w.buf = binary.BigEndian.AppendUint16(w.buf, v) }

// Uint32 writes v big-endian.
func (w *Writer) Uint32(v uint32) { w.buf = binary.BigEndian.AppendUint32(w.buf, v) }

// Uint64 writes v big-endian.
func (w *Writer) Uint64(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }

// Raw writes b as a fixed-size field, without a length prefix.
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

// Varint writes n as a minimal variable-length integer.
func (w *Writer) Varint(n int) {
	var tmp [4]byte
	s := VarintSize(n)
	putVarint(tmp[:], n)
	w.buf = append(w.buf, tmp[:s]...)
}

// Opaque writes opaque x<V>: the varint length of b, then b.
func (w *Writer) Opaque(b []byte) {
	w.Varint(len(b))
	w.buf = append(w.buf, b...)
}

// Optional writes the presence octet of an optional<T>; the caller writes
// the value itself after it when present is true.
func (w *Writer) Optional(present bool) {
	if present {
		w.buf = append(w.buf, 1)
	} else {
		w.buf = append(w.buf, 0)
	}
}

// Vector writes a length-prefixed vector whose contents fn writes to w.
// One octet is reserved for the prefix since most vectors are short; a
// longer vector shifts its contents once to make room for the wider prefix.
func (w *Writer) Vector(fn func(w *Writer)) {
	at := len(w.buf)
	w.buf = append(w.buf, 0)
	fn(w)
	n := len(w.buf) - at - 1
	s := VarintSize(n)
	if s > 1 {
		w.buf = append(w.buf, make([]byte, s-1)...)
		copy(w.buf[at+s:], w.buf[at+1:at+1+n])
	}
	putVarint(w.buf[at:], n)
}

// Marshaler is implemented by every encodable MLS structure.
type Marshaler interface {
	MarshalTLS(w *Writer)
}

// Unmarshaler is implemented by every decodable MLS structure. It reads the
// structure from r and reports failures through r's sticky error.
type Unmarshaler interface {
	UnmarshalTLS(r *Reader)
}

// Marshal returns the encoding of m.
func Marshal(m Marshaler) []byte {
	var w Writer
	m.MarshalTLS(&w)
	return w.buf
}

// Unmarshal decodes b entirely into u; trailing bytes are an error.
func Unmarshal(b []byte, u Unmarshaler) error {
	r := NewReader(b)
	u.UnmarshalTLS(r)
	return r.Finish()
}
