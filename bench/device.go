package bench

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/identity"
	"github.com/parleyhq/parley/proto"
)

const (
	// callTimeout bounds one request of a bench device.
	callTimeout = 30 * time.Second
	// sourceAddrs is how many loopback source addresses connections
	// are spread over: each has about 28,000 ephemeral ports, and a
	// closed connection holds its port in TIME_WAIT for a minute.
	sourceAddrs = 200
	// firstSource is the last octet of the first source address
	// (127.0.0.10 and up; 127.0.0.1 is left to everything else).
	firstSource = 10
	// deviceName is what bench devices call themselves in device lists.
	deviceName = "parley-bench"
)

// device is a light device: an Ed25519 key and one connection, speaking
// the protocol through client/rpc.
type device struct {
	idx     int
	key     ed25519.PrivateKey
	id      string
	account string
	handle  string
	conn    *rpc.Conn
	ws      *wsConn // the idle scenario's connection, instead of conn
}

// deviceKey derives device idx's key from the run: any worker can
// compute any device's ids without asking.
func deviceKey(run string, idx int) ed25519.PrivateKey {
	seed := sha256.Sum256(fmt.Appendf(nil, "parley-bench-v1\x00%s\x00%d", run, idx))
	return ed25519.NewKeyFromSeed(seed[:])
}

// handleOf is device idx's account handle: "@b" + run + "_" + idx fits
// the handle rules for any index below 10^19.
func handleOf(run string, idx int) string { return fmt.Sprintf("@b%s_%d", run, idx) }

func newDevice(run string, idx int) *device {
	key := deviceKey(run, idx)
	id := identity.DeviceID(key.Public().(ed25519.PublicKey))
	return &device{idx: idx, key: key, id: id, account: "a" + id[1:], handle: handleOf(run, idx)}
}

func (d *device) sign(conn *rpc.Conn) []byte {
	return ed25519.Sign(d.key, identity.AuthMessage(conn.Hello().Challenge, d.id))
}

// register creates the device's account and keeps the connection, now
// authenticated.
func (d *device) register(ctx context.Context, server string, hc *http.Client) error {
	pub := d.key.Public().(ed25519.PublicKey)
	list, err := identity.SignDeviceList(d.key, &proto.DeviceList{
		AccountId: d.account, Handle: d.handle, Version: 1,
		Devices: []*proto.Device{{DeviceId: d.id, SigningKey: pub, Name: deviceName, Primary: true, AddedMs: time.Now().UnixMilli()}},
	})
	if err != nil {
		return err
	}
	return d.handshake(ctx, server, hc, func(conn *rpc.Conn) *proto.Request {
		return &proto.Request{Body: &proto.Request_Register{Register: &proto.Register{
			Handle: d.handle, SigningKey: pub, DeviceList: list, Signature: d.sign(conn),
			ProtocolVersion: proto.ProtocolVersion, DeviceName: deviceName,
		}}}
	})
}

// authenticate opens a connection and logs in as the registered device.
func (d *device) authenticate(ctx context.Context, server string, hc *http.Client) error {
	return d.handshake(ctx, server, hc, func(conn *rpc.Conn) *proto.Request {
		return &proto.Request{Body: &proto.Request_Authenticate{Authenticate: &proto.Authenticate{
			DeviceId: d.id, Signature: d.sign(conn), ProtocolVersion: proto.ProtocolVersion,
		}}}
	})
}

// authenticateWS is authenticate on the bench's own WebSocket client
// (see wsConn), from source address src (nil: any).
func (d *device) authenticateWS(ctx context.Context, t wsTarget, src net.IP) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ws, hello, err := dialWS(ctx, t, src)
	if err != nil {
		return err
	}
	sig := ed25519.Sign(d.key, identity.AuthMessage(hello.Challenge, d.id))
	resp, err := ws.call(&proto.Request{Body: &proto.Request_Authenticate{Authenticate: &proto.Authenticate{
		DeviceId: d.id, Signature: sig, ProtocolVersion: proto.ProtocolVersion,
	}}})
	if err == nil && resp.GetAuth() == nil {
		err = errors.New("the server answered the handshake without an AuthResult")
	}
	if err != nil {
		ws.nc.Close()
		return err
	}
	d.ws = ws
	return nil
}

func (d *device) handshake(ctx context.Context, server string, hc *http.Client, req func(*rpc.Conn) *proto.Request) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	conn, err := rpc.Dial(ctx, server, hc)
	if err != nil {
		return err
	}
	resp, err := conn.Call(ctx, req(conn))
	if err == nil && resp.GetAuth() == nil {
		err = errors.New("the server answered the handshake without an AuthResult")
	}
	if err != nil {
		conn.Close()
		return err
	}
	d.conn = conn
	return nil
}

// call makes one request with the bench's timeout.
func (d *device) call(ctx context.Context, req *proto.Request) (*proto.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	return d.conn.Call(ctx, req)
}

// close ends the device's connection, if any.
func (d *device) close() {
	if d.conn != nil {
		d.conn.Close()
	}
	if d.ws != nil {
		d.ws.close()
	}
}

// dialers hands out HTTP clients whose connections come from different
// loopback source addresses, when the server is on IPv4 loopback.
type dialers struct {
	clients []*http.Client
	sources []net.IP // the clients' source addresses; nil when not spread
}

func newDialers(server string) *dialers {
	u, err := url.Parse(server)
	host := ""
	if err == nil {
		host = u.Hostname()
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || ip.To4() == nil || !ip.IsLoopback()) {
		return &dialers{clients: []*http.Client{{Transport: &http.Transport{}}}}
	}
	ds := &dialers{}
	for i := range sourceAddrs {
		src := net.IPv4(127, 0, 0, byte(firstSource+i))
		ds.sources = append(ds.sources, src)
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: callTimeout}
		tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, "tcp4", addr)
		}}
		ds.clients = append(ds.clients, &http.Client{Transport: tr})
	}
	return ds
}

func (ds *dialers) pick(idx int) *http.Client { return ds.clients[idx%len(ds.clients)] }

// source is the source address pick(idx) dials from; nil for the
// system's choice.
func (ds *dialers) source(idx int) net.IP {
	if len(ds.sources) == 0 {
		return nil
	}
	return ds.sources[idx%len(ds.sources)]
}
