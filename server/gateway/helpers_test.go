package gateway

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/proto"
)

// startTestGateway serves a gateway built from cfg on a loopback port,
// behind Listen, and drains it when the test ends. It returns the
// gateway and its address.
func startTestGateway(t *testing.T, cfg Config) (*Gateway, string) {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g}
	go srv.Serve(g.Listen(ln, time.Minute))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Drain(ctx)
		srv.Shutdown(ctx)
	})
	return g, ln.Addr().String()
}

// onlyConn returns g's one connection, nil if it has none.
func onlyConn(g *Gateway) *conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	var cn *conn
	for x := range g.conns {
		cn = x
	}
	return cn
}

// dialTest upgrades a connection to the gateway at addr.
func dialTest(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	return dialTestWith(t, addr, &net.Dialer{})
}

// dialTestWith is dialTest through d. The connection is closed when the
// test ends.
func dialTestWith(t *testing.T, addr string, d *net.Dialer) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		Path, addr, base64.StdEncoding.EncodeToString(make([]byte, 16)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return conn, br
}

// readRawFrame reads one unmasked server frame.
func readRawFrame(br *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return h[0] & 0x0f, p, err
}

// readTestFrame reads one server frame and decodes it.
func readTestFrame(t *testing.T, br *bufio.Reader) *proto.Frame {
	t.Helper()
	_, p, err := readRawFrame(br)
	if err != nil {
		t.Fatal(err)
	}
	var f proto.Frame
	if err := gproto.Unmarshal(p, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// sendTestRequest sends req in a client frame masked with a zero key.
func sendTestRequest(t *testing.T, conn net.Conn, req *proto.Request) {
	t.Helper()
	p, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(clientFrame(opBinary, true, [4]byte{}, p)); err != nil {
		t.Fatal(err)
	}
}
