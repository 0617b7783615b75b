package rpc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// fakeServer runs handle for each WebSocket connection after sending Hello.
func fakeServer(t *testing.T, handle func(ctx context.Context, ws *websocket.Conn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path {
			http.NotFound(w, r)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		send(r.Context(), ws, &proto.Frame{Kind: &proto.Frame_Hello{Hello: &proto.Hello{
			ProtocolVersion: proto.ProtocolVersion, Challenge: make([]byte, 32), MaxFrameBytes: proto.MaxFrameBytes}}})
		handle(r.Context(), ws)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func send(ctx context.Context, ws *websocket.Conn, f *proto.Frame) error {
	b, _ := gproto.Marshal(f)
	return ws.Write(ctx, websocket.MessageBinary, b)
}

func recvRequest(ctx context.Context, ws *websocket.Conn) (*proto.Request, error) {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var f proto.Frame
	if err := gproto.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f.GetRequest(), nil
}

func TestWebSocketURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080": "ws://127.0.0.1:8080/v1/ws",
		"https://chat.example/": "wss://chat.example/v1/ws",
		"ws://h:1/v1/ws":        "ws://h:1/v1/ws",
		"https://h/prefix":      "wss://h/prefix/v1/ws",
	} {
		got, err := WebSocketURL(in)
		if err != nil || got != want {
			t.Errorf("WebSocketURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"ftp://h", "127.0.0.1:8080", "http://"} {
		if _, err := WebSocketURL(bad); err == nil {
			t.Errorf("WebSocketURL(%q) accepted", bad)
		}
	}
}

// TestMultiplexing answers two concurrent requests in reverse order and
// pushes an event in between: each caller gets its own response.
func TestMultiplexing(t *testing.T) {
	url := fakeServer(t, func(ctx context.Context, ws *websocket.Conn) {
		a, _ := recvRequest(ctx, ws)
		b, _ := recvRequest(ctx, ws)
		if a.GetFetchKeys() != nil {
			a, b = b, a
		}
		send(ctx, ws, &proto.Frame{Kind: &proto.Frame_Response{Response: &proto.Response{Id: b.Id, Code: proto.Code_NOT_FOUND, Message: "no such handle"}}})
		send(ctx, ws, &proto.Frame{Kind: &proto.Frame_Event{Event: &proto.Event{Seq: 7}}})
		send(ctx, ws, &proto.Frame{Kind: &proto.Frame_Response{Response: &proto.Response{Id: a.Id}}})
		ws.Read(ctx) // until the client closes
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Hello().Challenge) != 32 {
		t.Fatal("no challenge in hello")
	}
	okc := make(chan error, 1)
	go func() {
		_, err := c.Call(ctx, &proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
		okc <- err
	}()
	resp, err := c.Call(ctx, &proto.Request{Body: &proto.Request_FetchKeys{FetchKeys: &proto.FetchKeys{Handle: "@x"}}})
	var pe *proto.Error
	if !errors.As(err, &pe) || pe.Code != proto.Code_NOT_FOUND || resp == nil {
		t.Fatalf("second call: %v, %v; want NOT_FOUND with the response", resp, err)
	}
	if err := <-okc; err != nil {
		t.Fatalf("first call: %v", err)
	}
	ev := <-c.Events()
	if ev.Seq != 7 {
		t.Fatalf("event seq %d", ev.Seq)
	}
}

// TestServerCloseCode maps close status 4000+code to a CloseError, and a
// pending call ends with it.
func TestServerCloseCode(t *testing.T) {
	url := fakeServer(t, func(ctx context.Context, ws *websocket.Conn) {
		recvRequest(ctx, ws)
		ws.Close(websocket.StatusCode(4000+int(proto.Code_SLOW_CONSUMER)), "you read too slowly")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Call(ctx, &proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != proto.Code_SLOW_CONSUMER || ce.Reason != "you read too slowly" {
		t.Fatalf("call on a cut connection: %v", err)
	}
	<-c.Done()
	if _, ok := <-c.Events(); ok {
		t.Fatal("events channel still open after close")
	}
	if _, err := c.Call(ctx, &proto.Request{}); !errors.As(err, &ce) {
		t.Fatalf("call after close: %v", err)
	}
}

func TestCallContext(t *testing.T) {
	url := fakeServer(t, func(ctx context.Context, ws *websocket.Conn) {
		ws.Read(ctx)
		ws.Read(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := c.Call(cctx, &proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d pending calls left after cancel", n)
	}
}

func TestNotAParleyServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		send(r.Context(), ws, &proto.Frame{Kind: &proto.Frame_Hello{Hello: &proto.Hello{ProtocolVersion: 99}}})
		ws.Read(r.Context())
	}))
	defer srv.Close()
	_, err := Dial(context.Background(), srv.URL, nil)
	var pe *proto.Error
	if !errors.As(err, &pe) || pe.Code != proto.Code_UNSUPPORTED_VERSION {
		t.Fatalf("dial to a server of another version: %v", err)
	}
}
