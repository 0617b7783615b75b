package server_test

import (
	"testing"

	"github.com/parleyhq/parley/proto"
)

func groupInfoReq(gid []byte) *proto.Request {
	return &proto.Request{Body: &proto.Request_GetGroupInfo{GetGroupInfo: &proto.GetGroupInfo{GroupId: gid}}}
}

// TestGetGroupInfo: members get the GroupInfo uploaded with the latest
// commit that carried one; outsiders and unknown groups get coded errors.
func TestGetGroupInfo(t *testing.T) {
	ts := startServer(t)
	alice := register(t, ts, "@alice")
	bob := register(t, ts, "@bob")
	carol := register(t, ts, "@carol")

	// A group whose creation commit carried no GroupInfo has none.
	bare := directGroup(t, alice, bob, bob)
	alice.expectCode(groupInfoReq(bare), proto.Code_NOT_FOUND)

	gid := randomID(t)
	alice.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: gid, Epoch: 0, MessageId: randomID(t), Commit: []byte("commit@0"),
		Welcome: []byte("welcome@1"), AddDevices: []string{bob.deviceID()}, GroupInfo: []byte("info@1"),
		Kind: proto.ConversationKind_DIRECT, Accounts: []string{alice.auth.AccountId, bob.auth.AccountId},
	}}})
	for _, c := range []*client{alice, bob} {
		r := c.mustCall(groupInfoReq(gid)).GetGroupInfo()
		if string(r.GetGroupInfo()) != "info@1" || r.GetEpoch() != 1 {
			t.Fatalf("GetGroupInfo = %v, want info@1 at epoch 1", r)
		}
	}
	carol.expectCode(groupInfoReq(gid), proto.Code_FORBIDDEN)
	alice.expectCode(groupInfoReq(randomID(t)), proto.Code_NOT_FOUND)
	alice.expectCode(groupInfoReq(make([]byte, proto.MaxGroupIDBytes+1)), proto.Code_BAD_REQUEST)
}
