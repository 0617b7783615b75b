package server_test

import (
	"bytes"
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
	m := alice.commitMsg(gid, 0, []string{bob.deviceID()}, 0)
	alice.mustCall(&proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: gid, Epoch: 0, MessageId: randomID(t), Commit: m.commit,
		Welcome: m.welcome, AddDevices: []string{bob.deviceID()}, GroupInfo: m.info,
		Kind: proto.ConversationKind_DIRECT, Accounts: []string{alice.auth.AccountId, bob.auth.AccountId},
	}}})
	for _, c := range []*client{alice, bob} {
		r := c.mustCall(groupInfoReq(gid)).GetGroupInfo()
		if !bytes.Equal(r.GetGroupInfo(), m.info) || r.GetEpoch() != 1 {
			t.Fatalf("GetGroupInfo = %v, want the commit's GroupInfo at epoch 1", r)
		}
	}
	carol.expectCode(groupInfoReq(gid), proto.Code_FORBIDDEN)
	alice.expectCode(groupInfoReq(randomID(t)), proto.Code_NOT_FOUND)
	alice.expectCode(groupInfoReq(make([]byte, proto.MaxGroupIDBytes+1)), proto.Code_BAD_REQUEST)
}
