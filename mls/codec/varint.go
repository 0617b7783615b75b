package codec

// MaxLength is the largest value a variable-length integer can carry:
// the 4-octet form leaves 30 bits (RFC 9420 §2.1.2).
const MaxLength = 1<<30 - 1

// VarintSize returns the number of octets of the minimal encoding of n.
// It panics if n exceeds MaxLength.
func VarintSize(n int) int {
	switch {
	case n < 0 || n > MaxLength:
		panic("codec: vector length exceeds MaxLength")
	case n < 1<<6:
		return 1
	case n < 1<<14:
		return 2
	default:
		return 4
	}
}

// putVarint writes the minimal encoding of n into b, which must have room
// for VarintSize(n) octets.
func putVarint(b []byte, n int) {
	switch VarintSize(n) {
	case 1:
		b[0] = byte(n)
	case 2:
		b[0] = 0x40 | byte(n>>8)
		b[1] = byte(n)
	default:
		b[0] = 0x80 | byte(n>>24)
		b[1] = byte(n >> 16)
		b[2] = byte(n >> 8)
		b[3] = byte(n)
	}
}

// parseVarint decodes a variable-length integer at the start of b and
// returns the value and the number of octets used, or an error sentinel.
func parseVarint(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	prefix := b[0] >> 6
	if prefix == 3 {
		return 0, 0, ErrLengthTooLarge
	}
	size := 1 << prefix
	if len(b) < size {
		return 0, 0, ErrTruncated
	}
	v := int(b[0] & 0x3f)
	for _, c := range b[1:size] {
		v = v<<8 | int(c)
	}
	if size > 1 && VarintSize(v) != size {
		return 0, 0, ErrNonMinimalLength
	}
	return v, size, nil
}
