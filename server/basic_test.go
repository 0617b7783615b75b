package server_test

import (
	"testing"

	"github.com/parleyhq/parley/proto"
)

func TestRegisterThenAuthenticate(t *testing.T) {
	ts := startServer(t)
	a := register(t, ts, "@Alice")
	if a.auth.Handle != "@alice" || !a.auth.Primary || a.auth.DeviceId != a.deviceID() {
		t.Fatalf("AuthResult %v", a.auth)
	}
	b := a.reconnect(ts)
	if b.auth.AccountId != a.auth.AccountId || b.auth.Handle != "@alice" || !b.auth.Primary {
		t.Fatalf("AuthResult after reconnect %v, want the same account", b.auth)
	}
	b.mustCall(&proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
	// The older connection of the device was replaced.
	a.expectClosed(proto.Code_FORBIDDEN)
}
