// Package wsaccept computes the WebSocket handshake's Sec-WebSocket-Accept
// value (RFC 6455 §4.2.2), for the server's upgrade and for the bench's
// own minimal client, which checks the server's answer.
package wsaccept

import (
	"crypto/sha1"
	"encoding/base64"
)

// guid is the RFC's fixed suffix of the hashed key.
const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Key returns Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func Key(secWebSocketKey string) string {
	h := sha1.Sum([]byte(secWebSocketKey + guid))
	return base64.StdEncoding.EncodeToString(h[:])
}
