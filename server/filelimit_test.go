package server

import "testing"

func TestMaxConnectionsFor(t *testing.T) {
	for _, c := range []struct {
		soft uint64
		want int
	}{
		{0, DefaultMaxConnections}, // unknown
		{20000, 19000},             // the reference machine's hard limit
		{65536, 64536},
		{1024, 512}, // a small limit keeps half for the rest
		{1 << 20, maxDefaultConnections},
		{2, 1},
	} {
		if got := maxConnectionsFor(c.soft); got != c.want {
			t.Errorf("maxConnectionsFor(%d) = %d, want %d", c.soft, got, c.want)
		}
	}
}

// The zero Config's MaxConnections is the one derived from this process's
// open-file limit, not a fixed number.
func TestDefaultMaxConnections(t *testing.T) {
	if got, want := (Config{}).withDefaults().MaxConnections, maxConnectionsFor(fileLimit()); got != want {
		t.Fatalf("default MaxConnections = %d, want %d", got, want)
	}
	if got := (Config{MaxConnections: 7}).withDefaults().MaxConnections; got != 7 {
		t.Fatalf("a configured MaxConnections became %d", got)
	}
}
