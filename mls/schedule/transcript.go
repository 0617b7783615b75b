package schedule

import (
	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

// ConfirmedTranscriptHash is Hash(interim_transcript_hash_before ||
// ConfirmedTranscriptHashInput), given the encoded input (wire_format,
// FramedContent, signature) of the commit (RFC 9420 §8.2).
func ConfirmedTranscriptHash(s *suite.Suite, interimBefore, confirmedInput []byte) []byte {
	h := s.NewHash()
	h.Write(interimBefore)
	h.Write(confirmedInput)
	return h.Sum(nil)
}

// InterimTranscriptHash is Hash(confirmed_transcript_hash ||
// InterimTranscriptHashInput{confirmation_tag}).
func InterimTranscriptHash(s *suite.Suite, confirmed, confirmationTag []byte) []byte {
	var w codec.Writer
	w.Opaque(confirmationTag)
	h := s.NewHash()
	h.Write(confirmed)
	h.Write(w.Bytes())
	return h.Sum(nil)
}
