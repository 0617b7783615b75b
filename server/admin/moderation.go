package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxReports bounds one listing of the report queue.
const maxReports = 1000

// Report is one entry of the moderation queue. The reporter is not
// shown: the operator judges the content, not who pointed at it.
type Report struct {
	ID        int64  `json:"id"`
	ChannelID string `json:"channel_id"`
	PostID    string `json:"post_id"` // hex; empty when the channel itself is reported
	Reason    string `json:"reason"`
	CreatedMs int64  `json:"created_ms"`
}

// ReportsResponse answers GET /v1/reports.
type ReportsResponse struct {
	Reports []Report `json:"reports"`
}

// ReportEntry is what Moderation.Reports returns.
type ReportEntry struct {
	ID        int64
	ChannelID string
	PostID    []byte
	Reason    string
	CreatedAt time.Time
}

// ErrNoSuchItem: the channel or report does not exist (404).
var ErrNoSuchItem = errors.New("admin: no such channel or report")

// Moderation is what the channel moderation endpoints need.
type Moderation interface {
	Reports(ctx context.Context, limit int) ([]ReportEntry, error)
	ResolveReport(ctx context.Context, id int64) error
	SetSuspended(ctx context.Context, channelID string, on bool) error
	SetVerified(ctx context.Context, channelID string, on bool) error
}

func (h moderation) reports(w http.ResponseWriter, r *http.Request) {
	rs, err := h.m.Reports(r.Context(), maxReports)
	if err != nil {
		h.fail(w, err)
		return
	}
	out := ReportsResponse{Reports: []Report{}}
	for _, x := range rs {
		out.Reports = append(out.Reports, Report{ID: x.ID, ChannelID: x.ChannelID, PostID: hex.EncodeToString(x.PostID),
			Reason: x.Reason, CreatedMs: x.CreatedAt.UnixMilli()})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func (h moderation) resolve(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "a report id is a number (see GET /v1/reports)", http.StatusBadRequest)
		return
	}
	if err := h.m.ResolveReport(r.Context(), id); err != nil {
		h.fail(w, err)
		return
	}
	ok(w)
}

// flag serves POST /v1/channels/{id}/suspend and .../verify with an
// optional body {"suspended": bool} / {"verified": bool} (default true).
func (h moderation) flag(field string, set func(ctx context.Context, id string, on bool) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil || len(body) > maxBodyBytes {
			http.Error(w, "could not read the request body", http.StatusBadRequest)
			return
		}
		on := true
		if len(body) > 0 {
			var req map[string]bool
			if err := strictJSON(body, &req); err != nil || len(req) > 1 {
				http.Error(w, `body must be {"`+field+`": true|false} or empty`, http.StatusBadRequest)
				return
			}
			v, present := req[field]
			if !present && len(req) == 1 {
				http.Error(w, `body must be {"`+field+`": true|false} or empty`, http.StatusBadRequest)
				return
			}
			if present {
				on = v
			}
		}
		if err := set(r.Context(), r.PathValue("id"), on); err != nil {
			h.fail(w, err)
			return
		}
		ok(w)
	}
}

type moderation struct {
	m   Moderation
	cfg Config
}

func (h moderation) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNoSuchItem) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if h.cfg.Logger != nil {
		h.cfg.Logger.Error("moderation request failed", "err", err)
	}
	http.Error(w, "the request failed; see the server log", http.StatusServiceUnavailable)
}

func ok(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`+"\n")
}

// moderationRoutes adds the channel moderation endpoints.
func moderationRoutes(mux *http.ServeMux, cfg Config) {
	h := moderation{m: cfg.Moderation, cfg: cfg}
	mux.HandleFunc("GET /v1/reports", h.reports)
	mux.HandleFunc("POST /v1/reports/{id}/resolve", h.resolve)
	mux.HandleFunc("POST /v1/channels/{id}/suspend", h.flag("suspended", cfg.Moderation.SetSuspended))
	mux.HandleFunc("POST /v1/channels/{id}/verify", h.flag("verified", cfg.Moderation.SetVerified))
}
