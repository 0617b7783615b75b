package gateway

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// clientFrame builds a masked client frame.
func clientFrame(op byte, fin bool, mask [4]byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i&3])
	}
	return b
}

type parsed struct {
	op byte
	p  []byte
}

// parseAll feeds stream to a reader in pieces of at most step bytes.
func parseAll(stream []byte, step, limit int) ([]parsed, error) {
	var r frameReader
	var got []parsed
	emit := func(op byte, p []byte) bool {
		got = append(got, parsed{op, append([]byte(nil), p...)})
		return op != opClose
	}
	for len(stream) > 0 && (len(got) == 0 || got[len(got)-1].op != opClose) {
		n := min(step, len(stream))
		if err := r.feed(stream[:n], limit, emit); err != nil {
			return got, err
		}
		stream = stream[n:]
	}
	if !r.idle() && (len(got) == 0 || got[len(got)-1].op != opClose) {
		return got, errors.New("partial frame left")
	}
	return got, nil
}

func TestFrameReader(t *testing.T) {
	m := [4]byte{0x12, 0x34, 0x56, 0x78}
	big := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80,000 bytes: 64-bit length
	mid := bytes.Repeat([]byte("x"), 300)                 // 16-bit length
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	for _, tc := range []struct {
		name   string
		stream []byte
		want   []parsed
		err    error
	}{
		{"binary", clientFrame(opBinary, true, m, []byte("hello")), []parsed{{opBinary, []byte("hello")}}, nil},
		{"empty", clientFrame(opBinary, true, m, nil), []parsed{{opBinary, nil}}, nil},
		{"text", clientFrame(opText, true, m, []byte("hi")), []parsed{{opText, []byte("hi")}}, nil},
		{"16-bit length", clientFrame(opBinary, true, m, mid), []parsed{{opBinary, mid}}, nil},
		{"64-bit length", clientFrame(opBinary, true, m, big), []parsed{{opBinary, big}}, nil},
		{"fragmented with a ping inside", cat(
			clientFrame(opBinary, false, m, []byte("ab")),
			clientFrame(opPing, true, m, []byte("p")),
			clientFrame(opContinuation, false, m, []byte("cd")),
			clientFrame(opContinuation, true, m, []byte("e")),
		), []parsed{{opPing, []byte("p")}, {opBinary, []byte("abcde")}}, nil},
		{"two messages", cat(clientFrame(opBinary, true, m, []byte("1")), clientFrame(opBinary, true, m, []byte("2"))),
			[]parsed{{opBinary, []byte("1")}, {opBinary, []byte("2")}}, nil},
		{"close stops", cat(clientFrame(opClose, true, m, []byte{3, 232}), clientFrame(opBinary, true, m, []byte("x"))),
			[]parsed{{opClose, []byte{3, 232}}}, nil},
		{"unmasked", []byte{0x82, 0x01, 'x'}, nil, protocolError("")},
		{"reserved bits", append([]byte{0xC2}, clientFrame(opBinary, true, m, nil)[1:]...), nil, protocolError("")},
		{"unknown opcode", clientFrame(0x3, true, m, nil), nil, protocolError("")},
		{"fragmented control", clientFrame(opPing, false, m, nil), nil, protocolError("")},
		{"long control", clientFrame(opPing, true, m, make([]byte, 126)), nil, protocolError("")},
		{"continuation first", clientFrame(opContinuation, true, m, nil), nil, protocolError("")},
		{"message inside a message", cat(clientFrame(opBinary, false, m, nil), clientFrame(opBinary, true, m, nil)), nil, protocolError("")},
		{"over the limit", clientFrame(opBinary, true, m, make([]byte, 1001)), nil, errTooLarge},
		{"fragments over the limit", cat(clientFrame(opBinary, false, m, make([]byte, 600)), clientFrame(opContinuation, true, m, make([]byte, 401))), nil, errTooLarge},
	} {
		for _, step := range []int{1, 3, 7, 1 << 20} {
			limit := 1000
			if tc.name == "64-bit length" {
				limit = 1 << 20
			}
			got, err := parseAll(tc.stream, step, limit)
			if tc.err != nil {
				var pe protocolError
				if !(errors.Is(err, tc.err) || errors.As(tc.err, &pe) && errors.As(err, &pe)) {
					t.Errorf("%s, step %d: error %v, want %v", tc.name, step, err, tc.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s, step %d: %v", tc.name, step, err)
				continue
			}
			if len(got) != len(tc.want) {
				t.Errorf("%s, step %d: %d messages, want %d", tc.name, step, len(got), len(tc.want))
				continue
			}
			for i := range got {
				if got[i].op != tc.want[i].op || !bytes.Equal(got[i].p, tc.want[i].p) {
					t.Errorf("%s, step %d: message %d is %d %q, want %d %q", tc.name, step, i,
						got[i].op, trim(got[i].p), tc.want[i].op, trim(tc.want[i].p))
				}
			}
		}
	}
}

func trim(b []byte) []byte { return b[:min(len(b), 20)] }

// The size check needs only the header: a declared terabyte is refused
// with no payload at all, and nothing near the declared size is allocated.
func TestFrameReaderRefusesDeclaredLength(t *testing.T) {
	hdr := []byte{0x82, 0x80 | 127}
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<40)
	hdr = append(hdr, 0, 0, 0, 0)
	var r frameReader
	allocs := testing.AllocsPerRun(10, func() {
		r = frameReader{}
		if err := r.feed(hdr, 1<<20, func(byte, []byte) bool { return true }); err != errTooLarge {
			t.Fatalf("declared terabyte: %v, want errTooLarge", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations to refuse a header", allocs)
	}
}

// A peer that declares a large frame and trickles it costs what it sent,
// not what it declared.
func TestFrameReaderGrowsWithData(t *testing.T) {
	m := [4]byte{1, 2, 3, 4}
	frame := clientFrame(opBinary, true, m, make([]byte, 1<<20))
	var r frameReader
	if err := r.feed(frame[:14+100], 1<<20, func(byte, []byte) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if c := cap(r.msg); c > payloadChunk {
		t.Fatalf("100 bytes of a declared MiB hold a %d-byte buffer", c)
	}
}

func TestUnmaskPhases(t *testing.T) {
	key := [4]byte{0xa1, 0xb2, 0xc3, 0xd4}
	data := []byte("the quick brown fox jumps over the lazy dog")
	for start := range 4 {
		for n := range len(data) - start {
			want := append([]byte(nil), data[start:start+n]...)
			for i := range want {
				want[i] ^= key[(start+i)&3]
			}
			got := append([]byte(nil), data[start:start+n]...)
			unmask(key, uint64(start), got)
			if !bytes.Equal(got, want) {
				t.Fatalf("offset %d, %d bytes: %x, want %x", start, n, got, want)
			}
		}
	}
}

func TestAppendFrameLengths(t *testing.T) {
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		f := encodeFrame(opBinary, make([]byte, n))
		if f[0] != 0x82 {
			t.Fatalf("first byte %x", f[0])
		}
		var hlen int
		switch f[1] {
		case 126:
			hlen = 4
		case 127:
			hlen = 10
		default:
			hlen = 2
		}
		if len(f) != hlen+n {
			t.Fatalf("%d-byte payload: %d-byte frame", n, len(f))
		}
	}
}

// FuzzFrameReader feeds arbitrary bytes, split in two at an arbitrary
// point: the reader must never panic, and must parse the same way however
// the input is split.
func FuzzFrameReader(f *testing.F) {
	m := [4]byte{9, 8, 7, 6}
	f.Add(clientFrame(opBinary, true, m, []byte("hello")), uint16(3))
	f.Add(append(clientFrame(opText, false, m, []byte("a")), clientFrame(opContinuation, true, m, []byte("b"))...), uint16(7))
	f.Add(clientFrame(opPing, true, m, []byte("p")), uint16(1))
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, uint16(5))
	f.Fuzz(func(t *testing.T, b []byte, split uint16) {
		const limit = 4096
		whole, errWhole := parseAll(b, len(b)+1, limit)
		at := int(split) % (len(b) + 1)
		var r frameReader
		var halves []parsed
		emit := func(op byte, p []byte) bool {
			halves = append(halves, parsed{op, append([]byte(nil), p...)})
			return op != opClose
		}
		err := r.feed(b[:at], limit, emit)
		if err == nil && (len(halves) == 0 || halves[len(halves)-1].op != opClose) {
			err = r.feed(b[at:], limit, emit)
		}
		if errWhole != nil && errWhole.Error() == "partial frame left" {
			errWhole = nil
		}
		if (err == nil) != (errWhole == nil) || len(halves) != len(whole) {
			t.Fatalf("split at %d: %d messages, %v; whole: %d messages, %v", at, len(halves), err, len(whole), errWhole)
		}
		for i := range whole {
			if whole[i].op != halves[i].op || !bytes.Equal(whole[i].p, halves[i].p) {
				t.Fatalf("split at %d: message %d differs", at, i)
			}
			if whole[i].op < opClose && len(whole[i].p) > limit {
				t.Fatalf("message of %d bytes passed a limit of %d", len(whole[i].p), limit)
			}
		}
	})
}
