package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/channel"
	"github.com/parleyhq/parley/internal/clock"
	"github.com/parleyhq/parley/proto"
	"github.com/parleyhq/parley/store"
)

// Paths on the main listener.
const (
	UploadPath   = "/v1/media"
	DownloadPath = "/v1/media/" // + hash
)

// Tokens checks the bearer tokens made over the WebSocket (MediaToken).
type Tokens interface {
	// Check returns the channel the token may upload to ("" for
	// download only), or an error for a bad or expired token.
	Check(token string, now time.Time) (upload string, err error)
}

// Config configures the HTTP handler.
type Config struct {
	Files  Store
	Store  store.Store // the upload records
	Tokens Tokens
	Clock  clock.Clock
	Logger *slog.Logger
}

// UploadResult is the JSON answer to an upload: what the post's Media
// carries.
type UploadResult struct {
	Hash      string `json:"hash"`
	Mime      string `json:"mime"`
	Size      int64  `json:"size"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Thumbnail string `json:"thumbnail"`
}

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type handler struct {
	cfg Config
	log *slog.Logger
	clk clock.Clock
}

// Handler serves POST /v1/media and GET /v1/media/<hash>.
func Handler(cfg Config) http.Handler {
	h := &handler{cfg: cfg, log: cfg.Logger, clk: clock.OrReal(cfg.Clock)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+UploadPath, h.upload)
	mux.HandleFunc("GET "+DownloadPath+"{hash}", h.download)
	return mux
}

var httpStatus = map[proto.Code]int{
	proto.Code_BAD_REQUEST:       http.StatusBadRequest,
	proto.Code_UNAUTHENTICATED:   http.StatusUnauthorized,
	proto.Code_FORBIDDEN:         http.StatusForbidden,
	proto.Code_SUSPENDED:         http.StatusForbidden,
	proto.Code_NOT_FOUND:         http.StatusNotFound,
	proto.Code_TOO_LARGE:         http.StatusRequestEntityTooLarge,
	proto.Code_UNSUPPORTED_MEDIA: http.StatusUnsupportedMediaType,
	proto.Code_UNAVAILABLE:       http.StatusServiceUnavailable,
	proto.Code_INTERNAL:          http.StatusInternalServerError,
}

func fail(w http.ResponseWriter, code proto.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus[code])
	json.NewEncoder(w).Encode(ErrorBody{Code: code.String(), Message: msg})
}

func (h *handler) internal(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		fail(w, proto.Code_UNAVAILABLE, "storage is unavailable; retry")
		return
	}
	h.log.Error("media request failed", "op", what, "err", err)
	fail(w, proto.Code_INTERNAL, "internal server error; it has been logged")
}

// token reads the bearer token from the Authorization header or, for
// plain <img> tags, the token query parameter.
func (h *handler) token(r *http.Request) (string, error) {
	tok := r.URL.Query().Get("token")
	if a := r.Header.Get("Authorization"); a != "" {
		var ok bool
		if tok, ok = strings.CutPrefix(a, "Bearer "); !ok {
			return "", errors.New("use Authorization: Bearer <media token>")
		}
	}
	if tok == "" {
		return "", errors.New("a media token is required: ask the server for one (MediaToken) over the WebSocket")
	}
	return h.cfg.Tokens.Check(tok, h.clk.Now())
}

func (h *handler) upload(w http.ResponseWriter, r *http.Request) {
	ch, err := h.token(r)
	if err != nil {
		fail(w, proto.Code_UNAUTHENTICATED, err.Error())
		return
	}
	if ch == "" {
		fail(w, proto.Code_FORBIDDEN, "this token allows downloads only; ask for a MediaToken with the channel id to upload")
		return
	}
	c, err := h.cfg.Store.Channel(r.Context(), ch)
	if errors.Is(err, store.ErrNotFound) {
		fail(w, proto.Code_NOT_FOUND, "the channel no longer exists")
		return
	} else if err != nil {
		h.internal(w, "channel", err)
		return
	}
	if c.Suspended {
		fail(w, proto.Code_SUSPENDED, "the channel is suspended by the server's operator")
		return
	}
	declared, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		fail(w, proto.Code_BAD_REQUEST, "declare the file's type in Content-Type, e.g. image/jpeg")
		return
	}
	if !channel.ValidMediaType(declared) {
		fail(w, proto.Code_UNSUPPORTED_MEDIA, "type "+declared+" is not accepted; allowed: "+strings.Join(channel.MediaTypes, ", "))
		return
	}
	if r.ContentLength > proto.MaxMediaBytes {
		fail(w, proto.Code_TOO_LARGE, tooLarge)
		return
	}
	// Read at most one byte past the limit, whatever the body claims.
	data, err := io.ReadAll(io.LimitReader(r.Body, proto.MaxMediaBytes+1))
	if err != nil {
		fail(w, proto.Code_BAD_REQUEST, "the upload was cut off; retry")
		return
	}
	if len(data) > proto.MaxMediaBytes {
		fail(w, proto.Code_TOO_LARGE, tooLarge)
		return
	}
	if len(data) == 0 {
		fail(w, proto.Code_BAD_REQUEST, "the upload is empty")
		return
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	if sniffed != declared {
		fail(w, proto.Code_UNSUPPORTED_MEDIA, "the bytes are "+sniffed+", not the declared "+declared)
		return
	}
	res, err := h.store(r.Context(), ch, declared, data)
	if err != nil {
		var pe *proto.Error
		if errors.As(err, &pe) {
			fail(w, pe.Code, pe.Message)
			return
		}
		h.internal(w, "upload", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

var tooLarge = fmt.Sprintf("the file is over %d MiB; compress it (the server does not transcode)", proto.MaxMediaBytes>>20)

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// store writes the file (and an image's thumbnail) and records them for
// the channel: the file first, so a record always has its bytes.
func (h *handler) store(ctx context.Context, ch, mimeType string, data []byte) (UploadResult, error) {
	res := UploadResult{Hash: hashOf(data), Mime: mimeType, Size: int64(len(data))}
	var thumb []byte
	if channel.IsImage(mimeType) {
		w, hgt, err := ImageSize(data)
		if err != nil && decoders[mimeType] != nil {
			return res, proto.Errorf(proto.Code_UNSUPPORTED_MEDIA, "the image does not decode as %s", mimeType)
		}
		if w*hgt > MaxImagePixels {
			return res, proto.Errorf(proto.Code_TOO_LARGE, "the image is %d×%d pixels; the limit is %d million pixels", w, hgt, MaxImagePixels/1_000_000)
		}
		res.Width, res.Height = w, hgt
		if thumb, err = Thumbnail(data, mimeType); err != nil {
			return res, proto.Errorf(proto.Code_UNSUPPORTED_MEDIA, "the image does not decode as %s", mimeType)
		}
	}
	now := h.clk.Now()
	if thumb != nil {
		res.Thumbnail = hashOf(thumb)
		if err := h.cfg.Files.Put(ctx, res.Thumbnail, bytes.NewReader(thumb), int64(len(thumb))); err != nil {
			return res, err
		}
		tw, th, _ := ImageSize(thumb)
		if err := h.cfg.Store.PutMedia(ctx, store.Media{ChannelID: ch, Hash: res.Thumbnail, Mime: "image/jpeg", Size: int64(len(thumb)),
			Width: tw, Height: th, UploadedAt: now}); err != nil {
			return res, err
		}
	}
	if err := h.cfg.Files.Put(ctx, res.Hash, bytes.NewReader(data), res.Size); err != nil {
		return res, err
	}
	err := h.cfg.Store.PutMedia(ctx, store.Media{ChannelID: ch, Hash: res.Hash, Mime: mimeType, Size: res.Size,
		Width: res.Width, Height: res.Height, Thumbnail: res.Thumbnail, UploadedAt: now})
	return res, err
}

func (h *handler) download(w http.ResponseWriter, r *http.Request) {
	if _, err := h.token(r); err != nil {
		fail(w, proto.Code_UNAUTHENTICATED, err.Error())
		return
	}
	hash := r.PathValue("hash")
	if !channel.ValidMediaHash(hash) {
		fail(w, proto.Code_BAD_REQUEST, "not a media hash (64 lower-case hex digits)")
		return
	}
	// Only what a channel still holds is served: expired media is gone
	// even if a file lingers.
	held, err := h.cfg.Store.MediaExists(r.Context(), hash)
	if err != nil {
		h.internal(w, "media exists", err)
		return
	}
	if !held {
		fail(w, proto.Code_NOT_FOUND, "no such media (it may have expired)")
		return
	}
	f, size, err := h.cfg.Files.Get(r.Context(), hash)
	if errors.Is(err, ErrNotFound) {
		fail(w, proto.Code_NOT_FOUND, "no such media (it may have expired)")
		return
	}
	if err != nil {
		h.internal(w, "get", err)
		return
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	w.Header().Set("Content-Type", http.DetectContentType(head[:n]))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Content-addressed: the bytes under a hash never change.
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	if rs, ok := f.(io.ReadSeeker); ok {
		if _, err := rs.Seek(0, io.SeekStart); err == nil {
			http.ServeContent(w, r, "", time.Time{}, rs)
			return
		}
	}
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Write(head[:n])
	io.Copy(w, f)
}
