package gateway

import (
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// Field numbers of the messages the pusher encodes by hand (see
// EnvelopeFrame); a test checks them against the generated code.
const (
	frameEventField    = 4
	eventSeqField      = 1
	eventEnvelopeField = 10
)

// EnvelopeFrame encodes Frame{Event{seq, Envelope}} around an envelope
// that is already serialized (as stored in the mailbox, or built once for
// many recipients). A protobuf sub-message is just length-delimited bytes,
// so the envelope is copied into place instead of being decoded and
// encoded again for every push. Seq 0 (ephemeral) is omitted, as proto3
// does.
func EnvelopeFrame(seq uint64, envelope []byte) []byte {
	evLen := protowire.SizeTag(eventEnvelopeField) + protowire.SizeBytes(len(envelope))
	if seq != 0 {
		evLen += protowire.SizeTag(eventSeqField) + protowire.SizeVarint(seq)
	}
	b := make([]byte, 0, protowire.SizeTag(frameEventField)+protowire.SizeBytes(evLen))
	b = protowire.AppendTag(b, frameEventField, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(evLen))
	if seq != 0 {
		b = protowire.AppendTag(b, eventSeqField, protowire.VarintType)
		b = protowire.AppendVarint(b, seq)
	}
	b = protowire.AppendTag(b, eventEnvelopeField, protowire.BytesType)
	return protowire.AppendBytes(b, envelope)
}

// EventFrame serializes Frame{Event{seq: 0, body}} for pushing through the
// bus (ephemeral envelopes, LinkApproved).
func EventFrame(ev *proto.Event) []byte {
	return mustMarshal(&proto.Frame{Kind: &proto.Frame_Event{Event: ev}})
}

// responseFrame serializes a Response. Messages may quote what a device
// sent, so they are made valid UTF-8 first (protobuf refuses invalid UTF-8
// in strings); if the body still cannot be encoded, the device gets
// INTERNAL rather than the server failing.
func responseFrame(r *proto.Response) []byte {
	r.Message = strings.ToValidUTF8(r.Message, "\uFFFD")
	b, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Response{Response: r}})
	if err != nil {
		return mustMarshal(&proto.Frame{Kind: &proto.Frame_Response{Response: &proto.Response{
			Id: r.Id, Code: proto.Code_INTERNAL, Message: "the server could not encode its answer"}}})
	}
	return b
}

func noticeFrame(code proto.Code, msg string) []byte {
	return EventFrame(&proto.Event{Body: &proto.Event_Notice{Notice: &proto.Notice{Code: code, Message: msg}}})
}

// mustMarshal serializes a message built entirely by the server from
// constants and stored, already validated values. Marshal fails only for
// invalid UTF-8 in a string or a message over 2 GiB, so a failure here is a
// programming error.
func mustMarshal(m gproto.Message) []byte {
	b, err := gproto.Marshal(m)
	if err != nil {
		panic("gateway: marshal " + string(m.ProtoReflect().Descriptor().FullName()) + ": " + err.Error())
	}
	return b
}

// ErrorResponse answers request id with code and a message for a person.
func ErrorResponse(id uint64, code proto.Code, msg string) *proto.Response {
	return &proto.Response{Id: id, Code: code, Message: msg}
}

// parseFrame decodes a device's message: the Request it carries, or the
// code and message to answer it with (BAD_REQUEST for a malformed frame,
// UNKNOWN_FRAME for a kind this server does not know). binary is false for
// a WebSocket text message. It is pure, so the decoder can be fuzzed alone.
func parseFrame(binary bool, b []byte) (*proto.Request, proto.Code, string) {
	if !binary {
		return nil, proto.Code_BAD_REQUEST, "text messages are not part of the protocol; send binary protobuf frames"
	}
	var f proto.Frame
	if err := gproto.Unmarshal(b, &f); err != nil {
		return nil, proto.Code_BAD_REQUEST, "the message is not a valid protobuf Frame"
	}
	switch k := f.Kind.(type) {
	case *proto.Frame_Request:
		if k.Request == nil {
			return &proto.Request{}, proto.Code_OK, ""
		}
		return k.Request, proto.Code_OK, ""
	case nil:
		return nil, proto.Code_UNKNOWN_FRAME, "this server does not know this frame type; upgrade the server or the client"
	default:
		return nil, proto.Code_BAD_REQUEST, "devices send only Request frames"
	}
}
