package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/server/channels"
	"github.com/parleyhq/parley/server/delivery"
	"github.com/parleyhq/parley/server/directory"
	"github.com/parleyhq/parley/server/gateway"
)

// router sends each request of an authenticated device to the domain
// package that owns it. It is the gateway's Handler.
type router struct {
	dir *directory.Service
	del *delivery.Service
	ch  *channels.Service
	log *slog.Logger
}

func (r *router) Serve(ctx context.Context, who gateway.Identity, req *proto.Request, done func(*proto.Response)) {
	switch b := req.Body.(type) {
	case *proto.Request_Send:
		r.del.Send(ctx, who, b.Send, done)
	case *proto.Request_Commit:
		done(r.del.Commit(ctx, who, b.Commit))
	case *proto.Request_Ack:
		done(r.reply(r.del.Ack(ctx, who, b.Ack), nil))
	case *proto.Request_GetGroup:
		g, err := r.del.GetGroup(ctx, who, b.GetGroup)
		done(r.reply(err, func(resp *proto.Response) { resp.Body = &proto.Response_Group{Group: g} }))
	case *proto.Request_GetGroupInfo:
		gi, err := r.del.GetGroupInfo(ctx, who, b.GetGroupInfo)
		done(r.reply(err, func(resp *proto.Response) { resp.Body = &proto.Response_GroupInfo{GroupInfo: gi} }))
	case *proto.Request_LinkLookup:
		p, err := r.dir.LinkLookup(ctx, who, b.LinkLookup)
		done(r.reply(err, func(resp *proto.Response) { resp.Body = &proto.Response_LinkPending{LinkPending: p} }))
	case *proto.Request_LinkApprove:
		done(r.reply(r.dir.LinkApprove(ctx, who, b.LinkApprove), nil))
	case *proto.Request_RevokeDevice:
		done(r.reply(r.dir.RevokeDevice(ctx, who, b.RevokeDevice), nil))
	case *proto.Request_FetchKeys:
		k, err := r.dir.FetchKeys(ctx, who, b.FetchKeys)
		done(r.reply(err, func(resp *proto.Response) { resp.Body = &proto.Response_Keys{Keys: k} }))
	case *proto.Request_UploadKeyPackages:
		u, err := r.dir.UploadKeyPackages(ctx, who, b.UploadKeyPackages)
		done(r.reply(err, func(resp *proto.Response) { resp.Body = &proto.Response_Upload{Upload: u} }))
	case *proto.Request_ClaimKeyPackages:
		c, err := r.dir.ClaimKeyPackages(ctx, who, b.ClaimKeyPackages)
		done(r.reply(err, func(resp *proto.Response) { resp.Body = &proto.Response_Claim{Claim: c} }))
	case *proto.Request_SetContact:
		done(r.reply(r.dir.SetContact(ctx, who, b.SetContact), nil))
	case *proto.Request_SetBlocked:
		done(r.reply(r.dir.SetBlocked(ctx, who, b.SetBlocked), nil))
	case *proto.Request_SetPresenceVisibility:
		done(r.reply(r.dir.SetPresenceVisibility(ctx, who, b.SetPresenceVisibility), nil))
	case *proto.Request_GetPresence:
		p, err := r.dir.GetPresence(ctx, who, b.GetPresence)
		done(r.reply(err, func(resp *proto.Response) { resp.Body = &proto.Response_Presence{Presence: p} }))
	default:
		if resp, ok := r.ch.Serve(ctx, who, req); ok {
			done(resp)
			return
		}
		done(&proto.Response{Code: proto.Code_UNKNOWN_FRAME, Message: "this server does not know this request type; upgrade the server or the client"})
	}
}

func (r *router) Left(accountID string, at time.Time) { r.dir.Left(accountID, at) }

// reply builds a Response from an error or, on success, a body set by
// fill (nil for none). Only a *proto.Error's message reaches the device;
// anything else is logged and answered INTERNAL.
func (r *router) reply(err error, fill func(*proto.Response)) *proto.Response {
	if err == nil {
		resp := &proto.Response{}
		if fill != nil {
			fill(resp)
		}
		return resp
	}
	var pe *proto.Error
	if errors.As(err, &pe) {
		return &proto.Response{Code: pe.Code, Message: pe.Message}
	}
	r.log.Error("request failed", "err", err)
	return &proto.Response{Code: proto.Code_INTERNAL, Message: "internal server error; it has been logged"}
}
