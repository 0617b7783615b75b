package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	gproto "google.golang.org/protobuf/proto"

	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/internal/wsaccept"
	"github.com/parleyhq/parley/proto"
)

// wsConn is the idle scenario's own WebSocket client: the least a device
// needs to connect, authenticate and then sit idle (answering the
// server's pings and acknowledging pushed mail). The bench's workers
// share the cores with the server they measure, so their connect path is
// kept cheap: one TCP dial, one write of the upgrade request, one read of
// the answer and the Hello, no net/http client, and a goroutine per
// connection only once it is authenticated (blocked reading, it costs no
// CPU). Everything else (registration, the ring) speaks through
// client/rpc.
type wsConn struct {
	nc net.Conn
	br *bufio.Reader

	wmu  sync.Mutex // writes: the reader's acks and pongs, the pinger's pings, close
	mask [4]byte    // RFC 6455 asks clients to mask; the key need not be secret here
	next uint64     // request ids, under wmu
}

// wsReadBuffer is a connection's read buffer: an idle device reads only
// the Hello, its AuthResult and the odd ping.
const wsReadBuffer = 1024

// wsTarget is where the idle scenario's connections go.
type wsTarget struct {
	addr string // host:port
	host string // the Host header
	path string
}

// newWSTarget returns the target for a server URL; ok is false for a
// server this client does not speak to (https), which then gets
// client/rpc.
func newWSTarget(server string) (wsTarget, bool) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "ws") || u.Host == "" {
		return wsTarget{}, false
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	p, err := rpc.WebSocketURL(server)
	if err != nil {
		return wsTarget{}, false
	}
	pu, _ := url.Parse(p)
	return wsTarget{addr: addr, host: u.Host, path: pu.Path}, true
}

// dialWS opens a WebSocket from src (nil: any) and returns it with the
// server's Hello.
func dialWS(ctx context.Context, t wsTarget, src net.IP) (*wsConn, *proto.Hello, error) {
	d := net.Dialer{Timeout: callTimeout}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	nc, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", t.addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	c := &wsConn{nc: nc, br: bufio.NewReaderSize(nc, wsReadBuffer)}
	hello, err := c.handshake(t)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("connect to %s: %w", t.addr, err)
	}
	return c, hello, nil
}

func (c *wsConn) handshake(t wsTarget) (*proto.Hello, error) {
	var nonce [16 + 4]byte
	rand.Read(nonce[:])
	copy(c.mask[:], nonce[16:])
	key := base64.StdEncoding.EncodeToString(nonce[:16])
	req := "GET " + t.path + " HTTP/1.1\r\nHost: " + t.host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.nc, req); err != nil {
		return nil, err
	}
	status, err := c.br.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("reading the upgrade answer: %w", err)
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 101 ")) {
		return nil, fmt.Errorf("upgrade refused: %s", strings.TrimSpace(string(status)))
	}
	want := "sec-websocket-accept: " + wsaccept.Key(key)
	accepted := false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("reading the upgrade answer: %w", err)
		}
		l := strings.TrimSpace(string(line))
		if l == "" {
			break
		}
		accepted = accepted || strings.EqualFold(l, want)
	}
	if !accepted {
		return nil, errors.New("the server's Sec-WebSocket-Accept is missing or wrong")
	}
	f, err := c.readFrame()
	if err != nil {
		return nil, fmt.Errorf("waiting for hello: %w", err)
	}
	return rpc.CheckHello(f)
}

// call sends req and reads frames until its response (for the handshake,
// before the reading goroutine starts).
func (c *wsConn) call(req *proto.Request) (*proto.Response, error) {
	id, err := c.send(req)
	if err != nil {
		return nil, err
	}
	for {
		f, err := c.readFrame()
		if err != nil {
			return nil, err
		}
		if r := f.GetResponse(); r != nil && r.Id == id {
			if r.Code != proto.Code_OK {
				return nil, &proto.Error{Code: r.Code, Message: r.Message}
			}
			return r, nil
		}
	}
}

// send writes req with the next id and returns the id.
func (c *wsConn) send(req *proto.Request) (uint64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.next++
	req.Id = c.next
	b, err := gproto.Marshal(&proto.Frame{Kind: &proto.Frame_Request{Request: req}})
	if err != nil {
		return 0, err
	}
	return req.Id, c.writeLocked(0x2, b)
}

// writeLocked writes one masked frame (the payloads here are small).
func (c *wsConn) writeLocked(op byte, p []byte) error {
	b := make([]byte, 0, len(p)+14)
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, c.mask[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range p {
		b[start+i] ^= c.mask[i&3]
	}
	_, err := c.nc.Write(b)
	return err
}

// readFrame reads the next data message, answering pings on the way; a
// close frame is an error carrying the server's reason.
func (c *wsConn) readFrame() (*proto.Frame, error) {
	var msg []byte
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
			return nil, err
		}
		op, fin := hdr[0]&0x0f, hdr[0]&0x80 != 0
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.br, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if hdr[1]&0x80 != 0 || n > proto.MaxFrameBytes+16 {
			return nil, errors.New("bad frame from the server")
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return nil, err
		}
		switch op {
		case 0x8: // close
			reason := ""
			if len(p) > 2 {
				reason = string(p[2:])
			}
			return nil, fmt.Errorf("the server closed the connection: %q", reason)
		case 0x9: // ping
			c.wmu.Lock()
			err := c.writeLocked(0xa, p)
			c.wmu.Unlock()
			if err != nil {
				return nil, err
			}
			continue
		case 0xa: // pong
			continue
		}
		msg = append(msg, p...)
		if !fin {
			continue
		}
		var f proto.Frame
		if err := gproto.Unmarshal(msg, &f); err != nil {
			return nil, fmt.Errorf("malformed frame from the server: %w", err)
		}
		return &f, nil
	}
}

// serve reads until the connection ends, acknowledging pushed mail; it
// returns why the connection ended.
func (c *wsConn) serve() error {
	c.nc.SetDeadline(time.Time{})
	var last uint64
	for {
		f, err := c.readFrame()
		if err != nil {
			return err
		}
		if ev := f.GetEvent(); ev != nil && ev.Seq > last {
			last = ev.Seq
			if _, err := c.send(&proto.Request{Body: &proto.Request_Ack{Ack: &proto.Ack{UpToSeq: last}}}); err != nil {
				return err
			}
		}
	}
}

// close sends a close frame and closes the socket.
func (c *wsConn) close() {
	c.wmu.Lock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.writeLocked(0x8, []byte{0x03, 0xe8}) // 1000, normal closure
	c.wmu.Unlock()
	c.nc.Close()
}
