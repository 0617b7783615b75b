// Package codec implements the TLS presentation language as profiled by
// RFC 9420 §2.1: fixed-width big-endian integers, fixed-size byte fields,
// optional<T> presence octets, and vectors prefixed with the MLS
// variable-length integer (§2.1.2).
//
// Encoding never fails on well-formed input; decoding is strict. A Reader
// keeps the first error it meets (sticky), so decoders can read a whole
// structure and check Err or Finish once at the end. Every deviation from
// the canonical encoding is an error: truncated input, trailing bytes,
// non-minimal or over-long length prefixes, and optional octets other than
// 0 or 1. Callers report semantic errors (unknown enum values and the like)
// through Reader.Fail so that they share the same sticky error.
package codec
