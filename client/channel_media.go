package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/proto"
)

// Channel media travels over plain HTTP on the server's main listener
// (docs/protocol.md, "Media over HTTP"), authorized by a short-lived token
// the device asks for over its WebSocket. Channel media is public: the
// server sees it and makes thumbnails of images. Video is stored as
// uploaded (no server transcoding).

// mediaPath is the media endpoint on the server.
const mediaPath = "/v1/media"

// maxMediaError bounds the error body read from the media endpoint.
const maxMediaError = 64 << 10

// mediaToken asks for a media token; with a channel id it also allows
// uploading to that channel (owner and admins).
func (c *Client) mediaToken(ctx context.Context, channelID string) (string, error) {
	resp, err := c.call(ctx, &proto.Request{Body: &proto.Request_MediaToken{MediaToken: &proto.MediaToken{ChannelId: channelID}}})
	if err != nil {
		return "", err
	}
	return resp.GetMediaToken().GetToken(), nil
}

// mediaURL is the server's media endpoint (http or https).
func (c *Client) mediaURL(suffix string) (string, error) {
	u, err := url.Parse(c.server)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.Path = strings.TrimSuffix(u.Path, "/v1/ws") + mediaPath + suffix
	return u.String(), nil
}

func (c *Client) httpClient() *http.Client {
	if c.opts.HTTPClient != nil {
		return c.opts.HTTPClient
	}
	return http.DefaultClient
}

// mediaError turns the endpoint's JSON error into a coded error.
func mediaError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxMediaError))
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil && e.Code != "" {
		if code, ok := proto.Code_value[e.Code]; ok {
			return &proto.Error{Code: proto.Code(code), Message: e.Message}
		}
	}
	return fmt.Errorf("media endpoint: %s: %s", resp.Status, strings.TrimSpace(string(b)))
}

// UploadMedia uploads an image, video or sticker image for a post or the
// channel's icon (owner and admins) and returns the Media to put in the
// post. mime is the declared type; empty sniffs it from the bytes. The
// server refuses more than proto.MaxMediaBytes (TOO_LARGE) and bytes that
// are not what the type says (UNSUPPORTED_MEDIA).
func (c *Client) UploadMedia(ctx context.Context, channelID string, data []byte, mime, caption string) (*proto.Media, error) {
	if !channel.ValidID(channelID) {
		return nil, proto.Errorf(proto.Code_BAD_REQUEST, "%q is not a channel id", channelID)
	}
	if mime == "" {
		mime = http.DetectContentType(data)
	}
	if len(caption) > proto.MaxCaptionBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "a caption is at most %d bytes", proto.MaxCaptionBytes)
	}
	token, err := c.mediaToken(ctx, channelID)
	if err != nil {
		return nil, err
	}
	u, err := c.mediaURL("")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", mime)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("upload media: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, mediaError(resp)
	}
	var out struct {
		Hash      string `json:"hash"`
		Mime      string `json:"mime"`
		Size      uint64 `json:"size"`
		Width     uint32 `json:"width"`
		Height    uint32 `json:"height"`
		Thumbnail string `json:"thumbnail"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMediaError)).Decode(&out); err != nil {
		return nil, fmt.Errorf("upload media: the server's answer does not decode: %w", err)
	}
	if !channel.ValidMediaHash(out.Hash) {
		return nil, fmt.Errorf("upload media: the server answered an invalid hash %q", out.Hash)
	}
	return &proto.Media{Hash: out.Hash, Mime: out.Mime, Size: out.Size, Width: out.Width, Height: out.Height,
		Thumbnail: out.Thumbnail, Caption: caption}, nil
}

// DownloadMedia fetches channel media by hash and returns its bytes and
// type, checking that the bytes are the ones the hash names (the server
// cannot swap an image under a signed post).
func (c *Client) DownloadMedia(ctx context.Context, hash string) ([]byte, string, error) {
	if !channel.ValidMediaHash(hash) {
		return nil, "", proto.Errorf(proto.Code_BAD_REQUEST, "%q is not a media hash", hash)
	}
	token, err := c.mediaToken(ctx, "")
	if err != nil {
		return nil, "", err
	}
	u, err := c.mediaURL("/" + hash)
	if err != nil {
		return nil, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("download media: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", mediaError(resp)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, proto.MaxMediaBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("download media: %w", err)
	}
	if len(b) > proto.MaxMediaBytes {
		return nil, "", proto.Errorf(proto.Code_TOO_LARGE, "the server sent more than %d bytes", proto.MaxMediaBytes)
	}
	if mediaHash(b) != hash {
		return nil, "", fmt.Errorf("download media: the bytes the server sent are not media %s", hash)
	}
	return b, resp.Header.Get("Content-Type"), nil
}

// mediaHash is the media store's key for bytes: hex SHA-256.
func mediaHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
