// Package admin is the operator's HTTP interface, served on a listener of
// its own (loopback by default) so that nothing here is reachable where
// devices connect: liveness, readiness, Prometheus metrics and invite
// codes.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parleyhq/parley/server/metrics"
)

// Invite lifetimes.
const (
	DefaultInviteTTL = 7 * 24 * time.Hour
	MaxInviteTTL     = 365 * 24 * time.Hour
	// maxBodyBytes bounds an admin request body.
	maxBodyBytes = 4 << 10
	// readyTimeout bounds the readiness probe's store check.
	readyTimeout = 2 * time.Second
)

// Config is what the admin endpoints need from the server.
type Config struct {
	Metrics *metrics.Metrics
	// Ready returns nil when the server can serve devices: the store
	// answers and the server is not draining.
	Ready func(ctx context.Context) error
	// CreateInvite stores a single-use invite code valid for ttl.
	CreateInvite func(ctx context.Context, ttl time.Duration) (code string, expires time.Time, err error)
	// Moderation serves the channel moderation endpoints (moderation.go);
	// nil leaves them out.
	Moderation Moderation
	Logger     *slog.Logger
}

// InviteRequest is the optional body of POST /v1/invites.
type InviteRequest struct {
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// InviteResponse answers POST /v1/invites.
type InviteResponse struct {
	Code      string `json:"code"`
	ExpiresMs int64  `json:"expires_ms"`
}

// Handler returns the admin mux.
func Handler(cfg Config) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := cfg.Ready(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /v1/invites", func(w http.ResponseWriter, r *http.Request) {
		var req InviteRequest
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil {
			http.Error(w, "could not read the request body", http.StatusBadRequest)
			return
		}
		if len(body) > maxBodyBytes {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if len(body) > 0 {
			if err := strictJSON(body, &req); err != nil {
				http.Error(w, `body must be {"ttl_seconds": N} or empty: `+err.Error(), http.StatusBadRequest)
				return
			}
		}
		ttl := DefaultInviteTTL
		if req.TTLSeconds != 0 {
			ttl = time.Duration(req.TTLSeconds) * time.Second
		}
		if ttl <= 0 || ttl > MaxInviteTTL {
			http.Error(w, "ttl_seconds must be between 1 and one year", http.StatusBadRequest)
			return
		}
		code, expires, err := cfg.CreateInvite(r.Context(), ttl)
		if err != nil {
			log.Error("creating an invite failed", "err", err)
			http.Error(w, "could not create the invite; see the server log", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(InviteResponse{Code: code, ExpiresMs: expires.UnixMilli()})
	})
	if cfg.Moderation != nil {
		moderationRoutes(mux, cfg)
	}
	return mux
}

// strictJSON decodes exactly one JSON value with no unknown fields.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}
