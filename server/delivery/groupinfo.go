package delivery

import (
	"context"
	"errors"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/gateway"
	"github.com/parleyhq/parley/store"
)

// GetGroupInfo hands a member the latest GroupInfo uploaded with a commit,
// so a device that missed a commit (or failed to process one) can rejoin
// the group by external commit. Only current members get it: the GroupInfo
// carries the ratchet tree, which lists the members' devices.
func (s *Service) GetGroupInfo(ctx context.Context, who gateway.Identity, r *proto.GetGroupInfo) (*proto.GroupInfoResult, error) {
	g, err := s.memberGroup(ctx, who, r.GroupId)
	if err != nil {
		return nil, err
	}
	info, err := s.st.GroupInfo(ctx, r.GroupId)
	if errors.Is(err, store.ErrNotFound) {
		return nil, proto.Errorf(proto.Code_NOT_FOUND, "no GroupInfo was uploaded for this conversation yet; a member's next commit brings one")
	}
	if err != nil {
		return nil, storeErr("group info", err)
	}
	return &proto.GroupInfoResult{GroupInfo: info, Epoch: g.Epoch}, nil
}
