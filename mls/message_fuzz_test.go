package mls

import (
	"bytes"
	"testing"

	"github.com/parleyhq/parley/mls/codec"
)

// decodable is a structure with a strict decoder and a canonical encoder.
type decodable interface {
	codec.Marshaler
	codec.Unmarshaler
}

// fuzzRoundTrip is the property every decoder must hold: input that
// decodes without error re-encodes to exactly the same bytes, since the
// encoding is canonical and the decoder is strict. Anything else means the
// decoder accepted a non-canonical form (a malleability bug) or lost data.
func fuzzRoundTrip(f *testing.F, fresh func() decodable) {
	f.Fuzz(func(t *testing.T, in []byte) {
		v := fresh()
		if err := codec.Unmarshal(in, v); err != nil {
			return
		}
		if out := codec.Marshal(v); !bytes.Equal(out, in) {
			t.Fatalf("decoded input re-encodes differently\n in %x\nout %x", in, out)
		}
	})
}

// Seeds live in testdata/fuzz/<target>/, taken from messages.json.

func FuzzMLSMessage(f *testing.F) {
	fuzzRoundTrip(f, func() decodable { return new(MLSMessage) })
}

func FuzzAuthenticatedContent(f *testing.F) {
	fuzzRoundTrip(f, func() decodable { return new(AuthenticatedContent) })
}

func FuzzProposal(f *testing.F) {
	fuzzRoundTrip(f, func() decodable { return new(Proposal) })
}

func FuzzCommit(f *testing.F) {
	fuzzRoundTrip(f, func() decodable { return new(Commit) })
}

func FuzzGroupSecrets(f *testing.F) {
	fuzzRoundTrip(f, func() decodable { return new(GroupSecrets) })
}

func FuzzGroupInfo(f *testing.F) {
	fuzzRoundTrip(f, func() decodable { return new(GroupInfo) })
}

func FuzzKeyPackage(f *testing.F) {
	fuzzRoundTrip(f, func() decodable { return new(KeyPackage) })
}

func FuzzSenderData(f *testing.F) {
	f.Add(make([]byte, 12))
	fuzzRoundTrip(f, func() decodable { return new(SenderData) })
}

// FuzzPrivateMessageContent decrypts arbitrary plaintexts as the content of
// a PrivateMessage, through the same path Unprotect uses after the AEAD.
func FuzzPrivateMessageContent(f *testing.F) {
	f.Add(byte(1), []byte{0x03, 'a', 'b', 'c', 0x01, 0xff, 0, 0})
	f.Add(byte(3), []byte{0x00, 0x00, 0x01, 0xaa, 0x01, 0xbb})
	f.Fuzz(func(t *testing.T, ct byte, pt []byte) {
		fc := FramedContent{ContentType: ContentType(ct)}
		var auth FramedContentAuthData
		r := codec.NewReader(pt)
		fc.unmarshalBody(r)
		auth.unmarshal(r, fc.ContentType)
		if r.Err() != nil {
			return
		}
		w := codec.NewWriter(len(pt))
		fc.marshalBody(w)
		auth.marshal(w, fc.ContentType)
		if !bytes.Equal(w.Bytes(), pt[:r.Offset()]) {
			t.Fatalf("content re-encodes differently")
		}
	})
}
