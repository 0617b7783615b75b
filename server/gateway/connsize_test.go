package gateway

import (
	"testing"
	"unsafe"

	"github.com/parleyhq/parley/proto"
)

// maxConnBytes is what every idle connection keeps of the gateway's own
// struct (the 320-byte allocation size class). A field that pushes conn
// past it costs the next class (352, 384…) on every connection: put
// rarely used state behind a pointer instead, or raise this with a reason.
const maxConnBytes = 320

func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > maxConnBytes {
		t.Fatalf("conn is %d bytes, over %d: see maxConnBytes", n, maxConnBytes)
	}
}

func TestNewIdentity(t *testing.T) {
	res := &proto.AuthResult{AccountId: "aXYZ", DeviceId: "dXYZ0", Handle: "@alice", Primary: true}
	want := Identity{AccountID: "aXYZ", DeviceID: "dXYZ0", Handle: "@alice", Primary: true}
	if got := *newIdentity(res); got != want {
		t.Fatalf("newIdentity = %+v, want %+v", got, want)
	}
}
