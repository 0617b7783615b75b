package sqlite

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/store"
	"github.com/parleyhq/parley/store/storetest"
)

// filled returns the bytes of a closed database holding some mail.
func filled(t testing.TB) []byte {
	path := filepath.Join(t.TempDir(), "full.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	var subs []store.Submission
	for i := range 200 {
		subs = append(subs, store.Submission{SenderDevice: "dev-a", MessageID: []byte{byte(i), byte(i >> 8), 1}, At: storetest.T0,
			Mail: []store.Mail{{DeviceID: "dev-x", Envelope: bytes.Repeat([]byte{byte(i)}, 512), Expires: storetest.T0.Add(1e12)}}})
	}
	if _, err := s.Deliver(t.Context(), subs); err != nil {
		t.Fatal(err)
	}
	s.Close() // checkpoints the WAL into the main file
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenCorrupt(t *testing.T) {
	full := filled(t)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"garbage", bytes.Repeat([]byte("not a database "), 512)},
		{"truncated header", full[:50]},
		{"truncated half", full[:len(full)/2]},
		{"zeroed pages", append(append([]byte{}, full[:4096]...), make([]byte, len(full)-4096)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded", tc.name)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error does not name the file: %v", err)
			}
			t.Logf("Open(%s): %v", tc.name, err)
		})
	}
}

func TestOpenMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "parley.db")
	if _, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("Open(missing dir) = %v", err)
	}
}

// FuzzOpen: whatever bytes are in the file, Open returns a store or an
// error; it never panics. Seeds are a real database and cuts of it.
func FuzzOpen(f *testing.F) {
	full := filled(f)
	f.Add(full[:100])
	f.Add(full[:4096])
	f.Add(full[:len(full)/3])
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "fuzz.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(t.Context(), path)
		if err == nil {
			// Whatever opened must answer or fail cleanly.
			s.MailboxDepth(t.Context(), "dev-x")
			s.Fetch(t.Context(), "dev-x", 0, 10, storetest.T0)
			s.Close()
		}
	})
}
