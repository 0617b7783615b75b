package conformance

import (
	"testing"

	"github.com/parleyhq/parley/mls/codec"
)

func TestDeserialization(t *testing.T) {
	const file = "deserialization.json"
	var vs []struct {
		Header hexBytes `json:"vlbytes_header"`
		Length int      `json:"length"`
	}
	load(t, file, &vs)
	for _, v := range vs {
		r := codec.NewReader(v.Header)
		n := r.Varint()
		if err := r.Finish(); err != nil || n != v.Length {
			t.Errorf("header %x: got %d, %v; want %d", []byte(v.Header), n, err, v.Length)
			continue
		}
		// The header must also be exactly what the writer produces.
		var w codec.Writer
		w.Varint(n)
		if string(w.Bytes()) != string(v.Header) {
			t.Errorf("length %d encodes as %x, want %x", n, w.Bytes(), []byte(v.Header))
			continue
		}
		verified(file)
	}
}
