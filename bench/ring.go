package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/client/rpc"
	"github.com/parleyhq/parley/mls"
	"github.com/parleyhq/parley/mls/suite"
	"github.com/parleyhq/parley/proto"
)

const (
	// payloadMagic starts every bench payload ("PB" v1).
	payloadMagic = 0x50420001
	// payloadHeader is magic (4), send time in Unix ns (8), sender index
	// (4) and message number (8); random bytes fill the rest.
	payloadHeader = 24
	// ackBatch acks at least this often in a burst (the server pushes at
	// most proto.MaxEventBatch unacknowledged entries).
	ackBatch = proto.MaxEventBatch / 4
	// createWait bounds how long a worker waits, after its commits, for
	// its devices' conversations from the previous devices.
	createWait = 60 * time.Second
	// rateLimitedPause is how long a device waits after RATE_LIMITED
	// before its next send.
	rateLimitedPause = 100 * time.Millisecond
	// groupEpoch is the epoch of a freshly created conversation.
	groupEpoch = 1
)

// benchSuite is the MLS cipher suite of the handshake messages of "MLS
// off", the one Parley's clients use.
const benchSuite = suite.MLS128DHKEMX25519AES128GCMSHA256Ed25519

// mlsIdentity is a device's MLS identity: its Ed25519 key and its id.
func mlsIdentity(d *device) (mls.Identity, error) {
	cs, err := suite.Get(benchSuite)
	if err != nil {
		return mls.Identity{}, err
	}
	sk, err := cs.ParseSigningKey(d.key.Seed())
	if err != nil {
		return mls.Identity{}, err
	}
	return mls.Identity{Suite: benchSuite, SigningKey: sk, Credential: []byte(d.id)}, nil
}

// creation makes the MLS messages that create d's conversation with
// next: a real commit adding next and its Welcome, since the server
// checks a commit's framing against what the request declares. The
// bench holds every device's key, so it makes next's key package itself
// instead of uploading and claiming one; nobody ever processes these
// messages (the application messages that follow are random bytes).
func creation(groupID []byte, d, next *device) (commit, welcome []byte, err error) {
	id, err := mlsIdentity(d)
	if err != nil {
		return nil, nil, err
	}
	nid, err := mlsIdentity(next)
	if err != nil {
		return nil, nil, err
	}
	kp, err := mls.NewKeyPackage(nid, mls.KeyPackageOptions{})
	if err != nil {
		return nil, nil, err
	}
	g, err := mls.CreateGroup(groupID, id)
	if err != nil {
		return nil, nil, err
	}
	return g.AddMembers([][]byte{kp.Message()})
}

// Modes of a ring's event loops.
const (
	modeLive  = iota // time and acknowledge every message (ring)
	modeHold         // neither: mail stays in the mailbox (burst's fill)
	modeDrain        // acknowledge, and time from the burst's start
)

// ring is the MLS-off ring: light devices, random ciphertext. The burst
// scenario uses it too: it fills the ring's mailboxes, then reconnects.
type ring struct {
	job     *Job
	st      *stats
	dialers *dialers
	devs    []*device
	runTag  [4]byte // first bytes of every message id of this run

	welcomed  atomic.Int64
	allJoined chan struct{} // closed when every device got its welcome
	closing   atomic.Bool
	loops     sync.WaitGroup
	mode      atomic.Int32
	burst     time.Time // start of the burst phase; set before its loops start

	stalled      []*stalledDev  // this worker's stalled devices (ring --stalled)
	stalledLoops sync.WaitGroup // their event loops
}

func newRing(job *Job, st *stats) *ring {
	r := &ring{job: job, st: st, dialers: newDialers(job.Server), allJoined: make(chan struct{})}
	for i := range job.Count {
		r.devs = append(r.devs, newDevice(job.Run, job.First+i))
	}
	sum := sha256.Sum256([]byte(job.Run))
	copy(r.runTag[:], sum[:])
	if job.Stalled > 0 {
		r.newStalled()
	}
	return r
}

// groupID is the conversation device idx created with the next device.
func groupID(run string, idx int) []byte {
	sum := sha256.Sum256(fmt.Appendf(nil, "parley-bench-group\x00%s\x00%d", run, idx))
	return sum[:16]
}

func (r *ring) phase(ctx context.Context, name string) error {
	switch name {
	case phaseRegister:
		forEach(ctx, r.devs, r.job.DialConcurrency, func(d *device) {
			if err := d.register(ctx, r.job.Server, r.dialers.pick(d.idx)); err != nil {
				r.st.fail(err)
				return
			}
			r.st.registered.Add(1)
			if r.job.Scenario == ScenarioRing {
				r.st.connected.Add(1) // burst counts its reconnections
			}
			conn := d.conn
			r.loops.Go(func() { r.events(d, conn) })
		})
		r.registerStalled(ctx)
	case phaseCreate:
		forEach(ctx, r.devs, r.job.DialConcurrency, func(d *device) {
			if d.conn == nil {
				return
			}
			if err := r.create(ctx, d); err != nil {
				r.st.fail(err)
				return
			}
			r.st.created.Add(1)
		})
		r.createStalled(ctx)
		t := time.NewTimer(createWait)
		defer t.Stop()
		select {
		case <-r.allJoined:
		case <-t.C:
			for range int64(len(r.devs)) - r.welcomed.Load() {
				r.st.failCode(errNoWelcome)
			}
		case <-ctx.Done():
		}
	case phaseSend:
		start := time.Now()
		end := start.Add(r.job.Duration)
		r.st.lateFrom.Store(end.Add(-time.Duration(float64(r.job.Duration) * lateShare)).UnixNano())
		r.stallAll()
		var senders sync.WaitGroup
		for _, d := range r.devs {
			if d.conn != nil {
				senders.Go(func() { r.sendLoop(ctx, d, start, end, 0) })
			}
		}
		r.feedStalled(ctx, start, end, &senders)
		senders.Wait()
	case phaseResume:
		r.resumeStalled(ctx)
	case phaseFill:
		r.mode.Store(modeHold)
		var senders sync.WaitGroup
		for _, d := range r.devs {
			if d.conn != nil {
				senders.Go(func() { r.sendLoop(ctx, d, time.Now(), time.Now().Add(MaxDuration), uint64(r.job.Messages)) })
			}
		}
		senders.Wait()
		r.disconnect()
	case phaseBurst:
		r.burst = time.Now()
		r.mode.Store(modeDrain)
		forEach(ctx, r.devs, r.job.DialConcurrency, func(d *device) {
			if err := d.authenticate(ctx, r.job.Server, r.dialers.pick(d.idx)); err != nil {
				r.st.fail(err)
				return
			}
			r.st.connected.Add(1)
			conn := d.conn
			r.loops.Go(func() { r.events(d, conn) })
		})
	case phaseClose:
		r.close()
	}
	return ctx.Err()
}

// create makes device d's conversation with the next device: an
// epoch-0 commit adding it.
func (r *ring) create(ctx context.Context, d *device) error {
	next := newDevice(r.job.Run, nextIndex(d.idx, r.job.Devices))
	gid := groupID(r.job.Run, d.idx)
	commit, welcome, err := creation(gid, d, next)
	if err != nil {
		return fmt.Errorf("making the MLS commit: %w", err)
	}
	_, err = d.call(ctx, &proto.Request{Body: &proto.Request_Commit{Commit: &proto.Commit{
		GroupId: gid, Epoch: 0, MessageId: r.messageID(d.idx, 0),
		Commit: commit, Welcome: welcome, AddDevices: []string{next.id},
		Kind: proto.ConversationKind_DIRECT, Accounts: []string{d.account, next.account},
	}}})
	return err
}

// messageID is unique per run, sender and message number (0 is the
// creating commit).
func (r *ring) messageID(idx int, n uint64) []byte {
	id := make([]byte, proto.MessageIDBytes)
	copy(id, r.runTag[:])
	binary.BigEndian.PutUint32(id[4:], uint32(idx))
	binary.BigEndian.PutUint64(id[8:], n)
	return id
}

// sendLoop sends from d to the next device until end: on a schedule
// (the total rate spread evenly over devices and over time, each message
// stamped with its scheduled time so a server that falls behind shows as
// latency) or, with Max or a count, whenever fewer than Window sends are
// in flight. A count above 0 stops it after that many messages.
func (r *ring) sendLoop(ctx context.Context, d *device, start, end time.Time, count uint64) {
	window := rateWindow
	var interval time.Duration
	next := start
	asFast := r.job.Max || count > 0
	if asFast {
		window = r.job.Window
	} else {
		interval = time.Duration(float64(time.Second) * float64(r.job.Devices) / r.job.Rate)
		// Spread the devices' first sends over one interval.
		next = start.Add(interval * time.Duration(d.idx) / time.Duration(r.job.Devices))
	}
	group := groupID(r.job.Run, d.idx)
	fill := make([]byte, r.job.Size)
	rand.Read(fill)

	sem := make(chan struct{}, window)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for n := uint64(1); count == 0 || n <= count; n++ {
		var stamp time.Time
		if !asFast {
			if !next.Before(end) {
				return
			}
			timer.Reset(time.Until(next))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			case <-d.conn.Done():
				return
			}
			stamp, next = next, next.Add(interval)
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		case <-d.conn.Done():
			return
		}
		if asFast {
			stamp = time.Now()
			if !stamp.Before(end) {
				<-sem
				return
			}
		}
		payload := make([]byte, len(fill))
		copy(payload, fill)
		binary.BigEndian.PutUint32(payload, payloadMagic)
		binary.BigEndian.PutUint64(payload[4:], uint64(stamp.UnixNano()))
		binary.BigEndian.PutUint32(payload[12:], uint32(d.idx))
		binary.BigEndian.PutUint64(payload[16:], n)
		req := &proto.Request{Body: &proto.Request_Send{Send: &proto.Send{
			GroupId: group, MessageId: r.messageID(d.idx, n), Epoch: groupEpoch, Ciphertext: payload,
		}}}
		r.st.sending(stamp)
		inflight.Go(func() {
			defer func() { <-sem }()
			_, err := d.call(ctx, req)
			if err == nil {
				r.st.sent.Add(1)
				return
			}
			if ctx.Err() != nil {
				return
			}
			r.st.fail(err)
			if pe := (*proto.Error)(nil); errors.As(err, &pe) && pe.Code == proto.Code_RATE_LIMITED {
				// Hold the window slot for a moment: the server asked us to slow down.
				t := time.NewTimer(rateLimitedPause)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
		})
	}
}

// events handles what the server pushes to d on conn: application
// messages are timed, the welcome to the previous device's conversation
// is counted, and everything stored is acknowledged in batches, as a
// client does (except while a burst fills the mailboxes).
func (r *ring) events(d *device, conn *rpc.Conn) {
	var last uint64
	unacked := 0
	events := conn.Events()
	for ev := range events {
		mode := r.mode.Load()
		if env := ev.GetEnvelope(); env != nil {
			switch env.Kind {
			case proto.EnvelopeKind_APPLICATION:
				p := env.Payload
				if len(p) < payloadHeader || binary.BigEndian.Uint32(p) != payloadMagic {
					break
				}
				switch mode {
				case modeLive:
					r.st.receive(time.Unix(0, int64(binary.BigEndian.Uint64(p[4:]))))
				case modeDrain:
					r.st.receive(r.burst)
				}
			case proto.EnvelopeKind_WELCOME:
				if r.welcomed.Add(1) == int64(len(r.devs)) {
					close(r.allJoined)
				}
			}
		}
		if ev.Seq > last {
			last = ev.Seq
			unacked++
		}
		if mode != modeHold && unacked > 0 && (unacked >= ackBatch || len(events) == 0) {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			_, err := conn.Call(ctx, &proto.Request{Body: &proto.Request_Ack{Ack: &proto.Ack{UpToSeq: last}}})
			cancel()
			if err != nil {
				if !r.closing.Load() {
					r.st.fail(err)
				}
				continue
			}
			unacked = 0
		}
	}
	if !r.closing.Load() {
		r.st.fail(conn.Err())
	}
}

// disconnect closes every connection (not counted as errors) and waits
// for their event loops.
func (r *ring) disconnect() {
	r.closing.Store(true)
	forEach(context.Background(), r.devs, r.job.DialConcurrency, (*device).close)
	r.loops.Wait()
	r.closing.Store(false)
}

func (r *ring) close() {
	if r.closing.Swap(true) {
		return
	}
	forEach(context.Background(), r.devs, r.job.DialConcurrency, (*device).close)
	r.loops.Wait()
	r.closeStalled()
}
