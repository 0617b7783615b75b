// Package rpc is the client side of Parley's wire protocol: one WebSocket
// to /v1/ws carrying binary proto.Frames. A Conn reads the server's Hello,
// multiplexes Requests and their Responses by id (each Call with its own
// context), and hands server-pushed Events to one consumer.
//
// A Conn does not reconnect; package client owns the reconnect loop and
// authenticates each new Conn.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// Path is the WebSocket endpoint on the server.
const Path = "/v1/ws"

// eventBuffer holds pushed events until the consumer takes them. The
// server keeps at most proto.MaxEventBatch stored events unacknowledged,
// so twice that leaves room for ephemeral ones (typing, presence) too.
const eventBuffer = 2 * proto.MaxEventBatch

// ErrClosed is returned by Call on a closed connection that ended without
// a server-given reason.
var ErrClosed = errors.New("rpc: connection closed")

// CloseError is why the server closed the connection: the WebSocket close
// status 4000+code carries a proto.Code, the reason a message for people.
type CloseError struct {
	Code   proto.Code
	Reason string
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return "connection closed by server: " + e.Code.String()
	}
	return "connection closed by server: " + e.Code.String() + ": " + e.Reason
}

// Conn is one WebSocket connection to a Parley server.
type Conn struct {
	ws     *websocket.Conn
	hello  *proto.Hello
	nextID atomic.Uint64
	events chan *proto.Event

	mu      sync.Mutex
	pending map[uint64]chan *proto.Response
	err     error // set once, before done closes

	done     chan struct{}
	readDone chan struct{}
}

// WebSocketURL turns a server URL (http://host:port, https://…, ws://…)
// into the URL of its WebSocket endpoint.
func WebSocketURL(server string) (string, error) {
	u, err := url.Parse(server)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", server, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("server URL %q: want http:// or https://", server)
	}
	if u.Host == "" {
		return "", fmt.Errorf("server URL %q has no host", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(u.Path, Path) {
		u.Path += Path
	}
	return u.String(), nil
}

// Dial connects to the server and waits for its Hello.
func Dial(ctx context.Context, server string, httpClient *http.Client) (*Conn, error) {
	wsURL, err := WebSocketURL(server)
	if err != nil {
		return nil, err
	}
	ws, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPClient: httpClient})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", server, err)
	}
	ws.SetReadLimit(proto.MaxFrameBytes)
	f, err := readFrame(ctx, ws)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("connect to %s: waiting for hello: %w", server, closeReason(err))
	}
	hello, err := CheckHello(f)
	if err != nil {
		if f.GetHello() == nil {
			ws.Close(websocket.StatusProtocolError, "expected hello")
			return nil, fmt.Errorf("connect to %s: %w", server, err)
		}
		ws.Close(websocket.StatusNormalClosure, "unsupported version")
		return nil, err
	}
	c := &Conn{
		ws:       ws,
		hello:    hello,
		events:   make(chan *proto.Event, eventBuffer),
		pending:  make(map[uint64]chan *proto.Response),
		done:     make(chan struct{}),
		readDone: make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// Hello is the server's opening frame (its challenge is signed to log in).
func (c *Conn) Hello() *proto.Hello { return c.hello }

// Events delivers server-pushed events in order. It is closed when the
// connection ends.
func (c *Conn) Events() <-chan *proto.Event { return c.events }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (a *CloseError when the server said),
// or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection and waits for its reader to stop.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	c.ws.Close(websocket.StatusNormalClosure, "bye")
	<-c.readDone
	return nil
}

// Call sends req (its id is assigned here) and waits for the response.
// A response whose code is not OK is returned together with a
// *proto.Error, so callers can read bodies such as Conflict.
func (c *Conn) Call(ctx context.Context, req *proto.Request) (*proto.Response, error) {
	id := c.nextID.Add(1)
	req.Id = id
	ch := make(chan *proto.Response, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	b, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
	if err != nil {
		return nil, fmt.Errorf("rpc: encode request: %w", err)
	}
	if len(b) > proto.MaxFrameBytes {
		return nil, proto.Errorf(proto.Code_TOO_LARGE, "request of %d bytes is over the %d-byte frame limit", len(b), proto.MaxFrameBytes)
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.fail(closeReason(err))
		return nil, c.Err()
	}
	select {
	case resp := <-ch:
		if resp.Code != proto.Code_OK {
			return resp, &proto.Error{Code: resp.Code, Message: resp.Message}
		}
		return resp, nil
	case <-c.done:
		return nil, c.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Conn) readLoop() {
	defer close(c.readDone)
	defer close(c.events)
	ctx := context.Background()
	for {
		f, err := readFrame(ctx, c.ws)
		if err != nil {
			c.fail(closeReason(err))
			return
		}
		switch k := f.Kind.(type) {
		case *proto.Frame_Response:
			c.mu.Lock()
			ch := c.pending[k.Response.Id]
			c.mu.Unlock()
			if ch != nil {
				ch <- k.Response // buffered; one response per id
			}
			// A response nobody waits for (its Call gave up, or id 0 for
			// a frame the server could not parse) is dropped.
		case *proto.Frame_Event:
			c.deliver(k.Event)
		default:
			// Unknown frame kinds from a newer server are ignored.
		}
	}
}

// deliver hands an event to the consumer without ever blocking the
// reader (which also carries responses). Ephemeral events are dropped
// when the buffer is full; a stored event that does not fit means the
// server broke its unacked-window promise, and the connection is ended
// (the mail stays in the mailbox and comes back on reconnect).
func (c *Conn) deliver(ev *proto.Event) {
	select {
	case c.events <- ev:
		return
	default:
	}
	if ev.Seq == 0 {
		return
	}
	c.fail(fmt.Errorf("rpc: more than %d unacknowledged events pushed", eventBuffer))
	c.ws.CloseNow()
}

func (c *Conn) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done)
}

func readFrame(ctx context.Context, ws *websocket.Conn) (*proto.Frame, error) {
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("rpc: server sent a %v message, want binary", typ)
	}
	var f proto.Frame
	if err := gproto.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("rpc: malformed frame from server: %w", err)
	}
	return &f, nil
}

// closeReason maps a WebSocket close status 4000+code to a *CloseError.
func closeReason(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Code >= 4000 && ce.Code < 5000 {
		return &CloseError{Code: proto.Code(ce.Code - 4000), Reason: ce.Reason}
	}
	return err
}

// CheckHello returns the Hello a server must open a connection with; an
// error if f is something else, or UNSUPPORTED_VERSION (a *proto.Error)
// if the server speaks another protocol version.
func CheckHello(f *proto.Frame) (*proto.Hello, error) {
	hello := f.GetHello()
	if hello == nil {
		return nil, errors.New("the server did not start with Hello; is this a Parley server?")
	}
	if hello.ProtocolVersion != proto.ProtocolVersion {
		return nil, &proto.Error{Code: proto.Code_UNSUPPORTED_VERSION,
			Message: fmt.Sprintf("the server speaks protocol %d, this client %d; upgrade the older side", hello.ProtocolVersion, proto.ProtocolVersion)}
	}
	return hello, nil
}
