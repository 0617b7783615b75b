package codec

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (possibly wrapped) by Reader. Test with errors.Is.
var (
	// ErrTruncated means the input ended before the structure did.
	ErrTruncated = errors.New("codec: truncated input")
	// ErrTrailingData means bytes remained after a complete structure, or
	// inside a vector after its contents were decoded.
	ErrTrailingData = errors.New("codec: trailing data")
	// ErrNonMinimalLength means a variable-length integer used more octets
	// than its value needs; RFC 9420 §2.1.2 requires the minimal form.
	ErrNonMinimalLength = errors.New("codec: non-minimal variable-length integer")
	// ErrLengthTooLarge means a variable-length integer used the reserved
	// 0b11 prefix, or a length exceeds MaxLength.
	ErrLengthTooLarge = errors.New("codec: length too large")
	// ErrInvalidOptional means an optional<T> presence octet was not 0 or 1.
	ErrInvalidOptional = errors.New("codec: invalid optional presence octet")
	// ErrInvalidValue is a convenience for decoders reporting an
	// out-of-range value through Reader.Fail.
	ErrInvalidValue = errors.New("codec: invalid value")
)

// DecodeError records where in the input a decoding error happened. Offset
// is relative to the Reader that failed (a vector's sub-reader counts from
// the vector's first content byte). It unwraps to the sentinel.
type DecodeError struct {
	Offset int
	Err    error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("%v (at offset %d)", e.Err, e.Offset) }
func (e *DecodeError) Unwrap() error { return e.Err }
