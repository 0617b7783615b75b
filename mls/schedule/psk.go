package schedule

import (
	"github.com/parleyhq/parley/mls/codec"
	"github.com/parleyhq/parley/mls/suite"
)

// PSKType is the PSKType enum of RFC 9420 §8.4.
type PSKType uint8

// The PSK types.
const (
	PSKExternal   PSKType = 1
	PSKResumption PSKType = 2
)

// ResumptionUsage is the ResumptionPSKUsage enum.
type ResumptionUsage uint8

// The resumption PSK usages.
const (
	ResumptionApplication ResumptionUsage = 1
	ResumptionReInit      ResumptionUsage = 2
	ResumptionBranch      ResumptionUsage = 3
)

// PreSharedKeyID names a PSK (RFC 9420 §8.4). For PSKExternal only ID is
// used; for PSKResumption, Usage, GroupID and Epoch. Nonce is a fresh
// random value of Nh octets each time the PSK is injected.
type PreSharedKeyID struct {
	Type    PSKType
	ID      []byte // psk_id, external
	Usage   ResumptionUsage
	GroupID []byte // psk_group_id, resumption
	Epoch   uint64 // psk_epoch, resumption
	Nonce   []byte
}

// MarshalTLS encodes the PreSharedKeyID.
func (p *PreSharedKeyID) MarshalTLS(w *codec.Writer) {
	w.Uint8(uint8(p.Type))
	switch p.Type {
	case PSKExternal:
		w.Opaque(p.ID)
	case PSKResumption:
		w.Uint8(uint8(p.Usage))
		w.Opaque(p.GroupID)
		w.Uint64(p.Epoch)
	}
	w.Opaque(p.Nonce)
}

// UnmarshalTLS decodes a PreSharedKeyID, rejecting unknown types and
// usages.
func (p *PreSharedKeyID) UnmarshalTLS(r *codec.Reader) {
	*p = PreSharedKeyID{Type: PSKType(r.Uint8())}
	switch p.Type {
	case PSKExternal:
		p.ID = r.Opaque()
	case PSKResumption:
		p.Usage = ResumptionUsage(r.Uint8())
		if p.Usage < ResumptionApplication || p.Usage > ResumptionBranch {
			r.Fail(ErrInvalidPSKType)
			return
		}
		p.GroupID = r.Opaque()
		p.Epoch = r.Uint64()
	default:
		r.Fail(ErrInvalidPSKType)
		return
	}
	p.Nonce = r.Opaque()
}

// PSK is one pre-shared key to inject: its ID as sent and its value.
type PSK struct {
	ID  PreSharedKeyID
	PSK suite.Secret
}

// PSKSecret chains the PSKs into psk_secret (RFC 9420 §8.4). With no PSKs
// it returns the all-zero vector.
func PSKSecret(s *suite.Suite, psks []PSK) (suite.Secret, error) {
	if len(psks) > 0xffff {
		return suite.Secret{}, ErrPSKCount
	}
	secret := s.Zero()
	zero := s.Zero()
	for i := range psks {
		var w codec.Writer
		psks[i].ID.MarshalTLS(&w)
		w.Uint16(uint16(i))
		w.Uint16(uint16(len(psks)))
		extracted := s.Extract(zero, psks[i].PSK)
		input := s.ExpandWithLabel(extracted, "derived psk", w.Bytes(), s.HashSize())
		secret = s.Extract(input, secret)
	}
	return secret, nil
}
