package codec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func TestVarintRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 16383, 16384, MaxLength} {
		var w Writer
		w.Varint(n)
		if len(w.Bytes()) != VarintSize(n) {
			t.Fatalf("%d: size %d", n, len(w.Bytes()))
		}
		r := NewReader(w.Bytes())
		if got := r.Varint(); got != n || r.Finish() != nil {
			t.Fatalf("%d: got %d err %v", n, got, r.Err())
		}
	}
}

func TestVarintErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", ErrTruncated},
		{"40", ErrTruncated},
		{"800000", ErrTruncated},
		{"4000", ErrNonMinimalLength},
		{"403f", ErrNonMinimalLength},
		{"80000000", ErrNonMinimalLength},
		{"80003fff", ErrNonMinimalLength},
		{"c0", ErrLengthTooLarge},
		{"ffffffffffffffff", ErrLengthTooLarge},
	} {
		b, _ := hex.DecodeString(tc.in)
		r := NewReader(b)
		r.Varint()
		if !errors.Is(r.Err(), tc.want) {
			t.Errorf("%s: got %v want %v", tc.in, r.Err(), tc.want)
		}
	}
}

func TestVectorNestingAndWidePrefix(t *testing.T) {
	for _, n := range []int{0, 5, 63, 64, 300, 16383, 16384, 70000} {
		payload := bytes.Repeat([]byte{0xab}, n)
		var w Writer
		w.Uint8(7)
		w.Vector(func(w *Writer) {
			w.Raw(payload)
		})
		w.Uint8(9)
		var ref Writer
		ref.Uint8(7)
		ref.Opaque(payload)
		ref.Uint8(9)
		if !bytes.Equal(w.Bytes(), ref.Bytes()) {
			t.Fatalf("n=%d: Vector and Opaque differ", n)
		}
		r := NewReader(w.Bytes())
		r.Uint8()
		var got []byte
		r.Vector(func(r *Reader) { got = r.Raw(r.Len()) })
		if r.Uint8() != 9 || r.Finish() != nil || !bytes.Equal(got, payload) {
			t.Fatalf("n=%d: decode failed: %v", n, r.Err())
		}
	}
}

func TestVectorLeftoverIsError(t *testing.T) {
	r := NewReader([]byte{2, 1, 2})
	r.Vector(func(r *Reader) { r.Uint8() })
	if !errors.Is(r.Err(), ErrTrailingData) {
		t.Fatalf("got %v", r.Err())
	}
	var de *DecodeError
	if !errors.As(r.Err(), &de) || de.Offset != 2 {
		t.Fatalf("offset: %#v", r.Err())
	}
}

func TestOptionalAndTrailing(t *testing.T) {
	r := NewReader([]byte{2})
	r.Optional()
	if !errors.Is(r.Err(), ErrInvalidOptional) {
		t.Fatal(r.Err())
	}
	r = NewReader([]byte{1, 0})
	if !r.Optional() || r.Finish() == nil {
		t.Fatal("trailing byte not reported")
	}
	r = NewReader([]byte{0x01, 0x02, 0x03})
	if r.Uint16() != 0x0102 || r.Uint32() != 0 || !errors.Is(r.Err(), ErrTruncated) {
		t.Fatal("sticky truncation")
	}
	if !r.Empty() {
		t.Fatal("Empty must be true after an error")
	}
}

func TestRawAliasIsClipped(t *testing.T) {
	in := []byte{1, 2, 3, 4}
	r := NewReader(in)
	a := r.Raw(2)
	_ = append(a, 9)
	if in[2] != 3 {
		t.Fatal("append through a decoded slice overwrote the input")
	}
}

// FuzzReader decodes arbitrary input as a small grammar that exercises every
// Reader method, then re-encodes what it read: a successful decode must
// reproduce the consumed input byte-exact (canonical encoding).
func FuzzReader(f *testing.F) {
	for _, s := range []string{"00", "0d", "4040", "bfffffff", "80004000", "0201020304", "01000105abcdef0102", "c0"} {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(in)
		var w Writer
		var walk func(r *Reader, w *Writer, depth int)
		walk = func(r *Reader, w *Writer, depth int) {
			for !r.Empty() {
				b := r.Uint8()
				w.Uint8(b)
				switch op := b % 6; {
				case op == 0 || depth > 4:
					w.Opaque(r.Opaque())
				case op == 1:
					w.Optional(r.Optional())
				case op == 2:
					w.Uint16(r.Uint16())
				case op == 3:
					r.Vector(func(r *Reader) {
						w.Vector(func(w *Writer) { walk(r, w, depth+1) })
					})
				case op == 4:
					w.Uint32(r.Uint32())
				default:
					w.Uint64(r.Uint64())
				}
			}
		}
		walk(r, &w, 0)
		if r.Finish() != nil {
			return
		}
		if !bytes.Equal(w.Bytes(), in) {
			t.Fatalf("re-encoding %x differs from input %x", w.Bytes(), in)
		}
	})
}
