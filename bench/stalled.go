package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/proto"
)

// Stalled devices (ring --stalled N): N extra devices, each the partner
// of a ring device (its feeder: stalled device j is fed by ring device
// j mod Devices) in a 1:1 conversation of its own. When the send phase
// starts they stop reading their sockets without closing them, while
// their feeders send them mail besides the ring's. The server must cut
// them with SLOW_CONSUMER, keep their mail, and keep serving the ring;
// after the send phase they resume, see how their connection ended,
// reconnect and drain their mailboxes.

const (
	// stalledReceiveBuffer is a stalled device's SO_RCVBUF (the kernel
	// doubles it): small, so that a little unread mail fills the path and
	// the server's writes stall instead of the kernel absorbing megabytes.
	stalledReceiveBuffer = 4096
	// stalledSegment is the MSS a stalled device's socket advertises
	// (the classic default for paths of unknown MTU): see
	// setSmallSegments.
	stalledSegment = 536
	// DefaultStalledMessages is the mail each stalled device is sent.
	DefaultStalledMessages = 6
	// DefaultStalledSize is the ciphertext size of that mail. 6 × 32 KiB
	// (192 KiB) is more than the socket buffers between the server and a
	// stalled device hold with the server's default send buffer
	// (server.DefaultSendBuffer, 128 KiB, which the kernel doubles) and
	// the device's small receive buffer, and less than the server's push
	// window (256 entries, 1 MiB), so the server's writer stalls for good
	// and the write timeout cuts the device. It is half the bytes of the
	// 6 × 64 KiB this needed when the server's kernel buffered up to
	// megabytes a socket, and as few messages: what the extra mail costs
	// the ring is mostly per message (24 × 8 KiB, the same bytes, cost
	// its p99 6× where this costs 1.2×), so the run measures the stall
	// rather than the store taking the mail. (With send_buffer -1, the
	// kernel's autotuning, these small-segment devices stall with it
	// too; devices with loopback's 64 KiB segments would need megabytes.)
	DefaultStalledSize = 32 << 10
	// lateShare is the last part of a ring's send phase whose latency is
	// also reported on its own: the stalled devices' mail is sent in the
	// first half, so from then on the ring shares the server only with
	// the stall itself (devices holding mail, then cut).
	lateShare = 0.4
	// stalledEndWait bounds how long resumed devices wait to see how the
	// server ended their connections: a cut socket's close frame or FIN
	// reaches them only after what the server's kernel still buffered for
	// them (up to twice its send buffer, read through a small window).
	stalledEndWait = 15 * time.Second
	// stalledDrainTimeout bounds the wait for the stalled devices'
	// mailboxes to drain after they reconnect.
	stalledDrainTimeout = 2 * time.Minute
)

// Ways a stalled device's connection was found to have ended (besides a
// close status carrying a proto.Code, counted under the code's name).
const (
	endOpen  = "STILL_OPEN" // not cut within stalledEndWait of resuming
	endEOF   = "EOF"        // the server closed the socket without a close frame
	endReset = "RESET"      // the server reset the socket
)

// gate holds a connection's reads while its device is stalled.
type gate struct {
	mu   sync.Mutex
	wait chan struct{} // non-nil while stalled; closed to resume
}

func (g *gate) stall() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wait == nil {
		g.wait = make(chan struct{})
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.wait != nil {
		close(g.wait)
		g.wait = nil
	}
}

func (g *gate) pass() {
	g.mu.Lock()
	w := g.wait
	g.mu.Unlock()
	if w != nil {
		<-w
	}
}

// gatedConn is a socket whose reads wait while its gate is shut: the
// WebSocket library above it simply stops receiving, the kernel's
// receive buffer fills, and the server sees a device that does not read.
type gatedConn struct {
	net.Conn
	g *gate
}

func (c *gatedConn) Read(b []byte) (int, error) {
	c.g.pass()
	return c.Conn.Read(b)
}

func (c *gatedConn) Close() error {
	c.g.resume() // a read held at the gate must see the close
	return c.Conn.Close()
}

// stalledClient is an HTTP client whose connections have a small
// receive buffer and pass through g.
func stalledClient(source net.IP, g *gate) *http.Client {
	nd := &net.Dialer{Timeout: callTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = errors.Join(setReceiveBuffer(fd, stalledReceiveBuffer), setSmallSegments(fd, stalledSegment))
		}); err != nil {
			return err
		}
		return serr
	}}
	if source != nil {
		nd.LocalAddr = &net.TCPAddr{IP: source}
	}
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if source != nil {
			network = "tcp4"
		}
		nc, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &gatedConn{Conn: nc, g: g}, nil
	}}}
}

// stalledDev is one stalled device and what it received after it came
// back.
type stalledDev struct {
	j      int // index among the stalled devices
	d      *device
	feeder *device // the ring device that sends to it (in this worker)
	gate   gate
	hc     *http.Client
	muted  atomic.Bool // while set, events are neither counted nor acknowledged

	mu   sync.Mutex
	seen map[uint64]bool // message numbers drained after reconnecting
}

// newStalled makes this worker's stalled devices: those whose feeder is
// one of its ring devices.
func (r *ring) newStalled() {
	for _, f := range r.devs {
		for j := f.idx; j < r.job.Stalled; j += r.job.Devices {
			s := &stalledDev{j: j, d: newDevice(r.job.Run, r.job.Devices+j), feeder: f, seen: map[uint64]bool{}}
			s.hc = stalledClient(r.dialers.source(s.d.idx), &s.gate)
			r.stalled = append(r.stalled, s)
		}
	}
}

// stalledGroupID is the conversation of stalled device j with its feeder.
func stalledGroupID(run string, j int) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "parley-bench-stalled\x00%s\x00%d", run, j))
	return sum[:16]
}

// registerStalled registers the stalled devices; they stay connected and
// read normally until the send phase.
func (r *ring) registerStalled(ctx context.Context) {
	forEach(ctx, r.stalled, r.job.DialConcurrency, func(s *stalledDev) {
		if err := s.d.register(ctx, r.job.Server, s.hc); err != nil {
			r.st.fail(err)
			return
		}
		conn := s.d.conn
		r.stalledLoops.Go(func() { r.stalledEvents(s, conn) })
	})
}

// createStalled has each feeder create its conversation with its stalled
// partners.
func (r *ring) createStalled(ctx context.Context) {
	forEach(ctx, r.stalled, r.job.DialConcurrency, func(s *stalledDev) {
		if s.feeder.conn == nil || s.d.conn == nil {
			return
		}
		gid := stalledGroupID(r.job.Run, s.j)
		commit, welcome, err := creation(gid, s.feeder, s.d)
		if err != nil {
			r.st.fail(fmt.Errorf("making the MLS commit: %w", err))
			return
		}
		_, err = s.feeder.call(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
			GroupId: gid, Epoch: 0, MessageId: r.messageID(s.d.idx, 0),
			Commit: commit, Welcome: welcome, AddDevices: []string{s.d.id},
			Kind: proto.ConversationKind_DIRECT, Accounts: []string{s.feeder.account, s.d.account},
		}}})
		if err != nil {
			r.st.fail(err)
		}
	})
}

// stallAll stops every stalled device's reading (not in a control run).
func (r *ring) stallAll() {
	if r.job.StalledReading {
		return
	}
	for _, s := range r.stalled {
		s.muted.Store(true)
		s.gate.stall()
	}
}

// feedStalled sends each stalled device its mail from its feeder, spread
// over the first half of the send phase so that the devices are cut
// while the ring still runs.
func (r *ring) feedStalled(ctx context.Context, start, end time.Time, wg *sync.WaitGroup) {
	if len(r.stalled) == 0 {
		return
	}
	n := r.job.StalledMessages
	interval := end.Sub(start) / 2 / time.Duration(n)
	for _, s := range r.stalled {
		if s.feeder.conn == nil {
			continue
		}
		wg.Go(func() {
			fill := make([]byte, r.job.StalledSize)
			rand.Read(fill)
			gid := stalledGroupID(r.job.Run, s.j)
			next := start.Add(interval * time.Duration(s.j%max(r.job.Devices, 1)) / time.Duration(max(r.job.Devices, 1)))
			timer := time.NewTimer(0)
			defer timer.Stop()
			<-timer.C
			for k := uint64(1); k <= uint64(n); k++ {
				timer.Reset(time.Until(next))
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
				next = next.Add(interval)
				payload := make([]byte, len(fill))
				copy(payload, fill)
				binary.BigEndian.PutUint32(payload, payloadMagic)
				binary.BigEndian.PutUint64(payload[4:], uint64(time.Now().UnixNano()))
				binary.BigEndian.PutUint32(payload[12:], uint32(s.feeder.idx))
				binary.BigEndian.PutUint64(payload[16:], k)
				_, err := s.feeder.call(ctx, &proto.Request{Body: &proto.Request_Send{Send: &proto.Send{
					GroupId: gid, MessageId: r.messageID(s.d.idx, k), Epoch: groupEpoch, Ciphertext: payload,
				}}})
				switch {
				case err == nil:
					r.st.stalledSent.Add(1)
				case ctx.Err() == nil:
					r.st.fail(err)
				}
			}
		})
	}
}

// resumeStalled lets the stalled devices read again, records how the
// server ended each connection, then reconnects them to drain their
// mailboxes (the coordinator waits for the drain).
func (r *ring) resumeStalled(ctx context.Context) {
	for _, s := range r.stalled {
		s.gate.resume()
	}
	deadline := time.NewTimer(stalledEndWait)
	defer deadline.Stop()
	expired := r.job.StalledReading // a control run's devices were never cut
	for _, s := range r.stalled {
		if s.d.conn == nil {
			continue
		}
		if !expired {
			select {
			case <-s.d.conn.Done():
			case <-deadline.C:
				expired = true
			}
		}
		r.st.stalledEnd(endOf(s.d.conn))
	}
	r.closeStalled()
	forEach(ctx, r.stalled, r.job.DialConcurrency, func(s *stalledDev) {
		s.muted.Store(false)
		if err := s.d.authenticate(ctx, r.job.Server, r.dialers.pick(s.d.idx)); err != nil {
			r.st.fail(err)
			return
		}
		conn := s.d.conn
		r.stalledLoops.Go(func() { r.stalledEvents(s, conn) })
	})
}

// endOf names how a resumed device's connection ended.
func endOf(conn *rpc.Conn) string {
	select {
	case <-conn.Done():
	default:
		return endOpen
	}
	err := conn.Err()
	var ce *rpc.CloseError
	switch {
	case errors.As(err, &ce):
		return ce.Code.String()
	case errors.Is(err, syscall.ECONNRESET):
		return endReset
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return endEOF
	default:
		return errorCode(err)
	}
}

// closeStalled closes the stalled devices' connections and waits for
// their event loops.
func (r *ring) closeStalled() {
	// A read held at a gate would hold up the close handshake.
	for _, s := range r.stalled {
		s.gate.resume()
	}
	forEach(context.Background(), r.stalled, r.job.DialConcurrency, func(s *stalledDev) { s.d.close() })
	r.stalledLoops.Wait()
}

// stalledEvents handles what the server pushes to a stalled device on
// conn: before the stall it acknowledges (its welcome); while muted it
// neither counts nor acknowledges (what it read past the gate comes back
// after reconnecting); after reconnecting it counts each message once
// and acknowledges as a client does.
func (r *ring) stalledEvents(s *stalledDev, conn *rpc.Conn) {
	var last uint64
	unacked := 0
	events := conn.Events()
	for ev := range events {
		if s.muted.Load() {
			continue
		}
		if env := ev.GetEnvelope(); env != nil && env.Kind == proto.EnvelopeKind_APPLICATION {
			if p := env.Payload; len(p) >= payloadHeader && binary.BigEndian.Uint32(p) == payloadMagic {
				n := binary.BigEndian.Uint64(p[16:])
				s.mu.Lock()
				if !s.seen[n] {
					s.seen[n] = true
					r.st.stalledDelivered.Add(1)
				}
				s.mu.Unlock()
			}
		}
		if ev.Seq > last {
			last = ev.Seq
			unacked++
		}
		if unacked > 0 && (unacked >= ackBatch || len(events) == 0) {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			_, err := conn.Call(ctx, &proto.Request{Body: &proto.Request_Ack{Ack: &proto.Ack{UpToSeq: last}}})
			cancel()
			if err == nil {
				unacked = 0
			}
		}
	}
}
