package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/parleyhq/parley/internal/wsaccept"
)

// The WebSocket opening handshake (RFC 6455 §4.2), server side: no
// subprotocol, no extension (so no compression), and a browser's Origin
// must name this host.

// upgradeWriteTimeout bounds writing the 101 response.
const upgradeWriteTimeout = 10 * time.Second

// upgrade checks the request, takes the connection over from net/http and
// answers 101. It returns the connection and any bytes the client sent
// after its request that net/http had already buffered. On a bad request
// it answers with an HTTP error itself.
func upgrade(w http.ResponseWriter, r *http.Request) (net.Conn, []byte, error) {
	fail := func(status int, msg string) (net.Conn, []byte, error) {
		if status == http.StatusUpgradeRequired || status == http.StatusBadRequest {
			w.Header().Set("Sec-WebSocket-Version", "13")
		}
		http.Error(w, msg, status)
		return nil, nil, errors.New(msg)
	}
	if r.Method != http.MethodGet {
		return fail(http.StatusMethodNotAllowed, "WebSocket connections use GET")
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		return fail(http.StatusUpgradeRequired, "this endpoint speaks WebSocket only; connect with a WebSocket client")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return fail(http.StatusBadRequest, "unsupported WebSocket version; use version 13")
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return fail(http.StatusBadRequest, "invalid Sec-WebSocket-Key")
	}
	if !sameOrigin(r) {
		return fail(http.StatusForbidden, "WebSocket origin not allowed: a browser page may connect only to its own host")
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return fail(http.StatusInternalServerError, "the HTTP server cannot hand the connection over")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, fmt.Errorf("hijack: %w", err)
	}
	nc = unwrapReplay(nc)
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
		buffered = append([]byte(nil), buffered...)
	}
	if err := writeSwitching(nc, key); err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, buffered, nil
}

// writeSwitching answers 101 to a valid upgrade with Sec-WebSocket-Key
// key, and clears the socket's deadlines (net/http's, the header read's)
// for the WebSocket.
func writeSwitching(nc net.Conn, key string) error {
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		wsaccept.Key(key) + "\r\n\r\n"
	nc.SetDeadline(time.Now().Add(upgradeWriteTimeout))
	if _, err := nc.Write([]byte(resp)); err != nil {
		return fmt.Errorf("write 101: %w", err)
	}
	nc.SetDeadline(time.Time{})
	return nil
}

// headerHasToken reports whether a comma-separated header holds token
// (case-insensitively).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// sameOrigin accepts requests without an Origin (programs) and browser
// requests whose Origin names the host they connect to.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}
