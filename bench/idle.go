package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/proto"
)

// pingInterval keeps held connections inside the server's idle timeout
// (90 s by default; the protocol asks for a ping every third of it).
const pingInterval = 25 * time.Second

// halfSettle is the pause at the half mark of the connect phase before
// the server's memory is read: time for a collection, so the sample is
// not the peak of one cycle. The connect rate leaves it out.
const halfSettle = 2 * time.Second

// idle holds authenticated connections. Registration happens in its own
// phase on connections that are then closed, so the connect phase
// measures exactly connect + authenticate.
type idle struct {
	job     *Job
	st      *stats
	dialers *dialers
	devs    []*device
	// ws is where the connect phase dials with the bench's own client;
	// useWS is false for servers it does not speak to (https), which get
	// client/rpc.
	ws    wsTarget
	useWS bool

	closing atomic.Bool
	loops   sync.WaitGroup // event loops and the pinger
	stop    chan struct{}  // ends the pinger
}

func newIdle(job *Job, st *stats) *idle {
	s := &idle{job: job, st: st, dialers: newDialers(job.Server), stop: make(chan struct{})}
	s.ws, s.useWS = newWSTarget(job.Server)
	for i := range job.Count {
		s.devs = append(s.devs, newDevice(job.Run, job.First+i))
	}
	return s
}

func (s *idle) phase(ctx context.Context, name string) error {
	switch name {
	case phaseRegister:
		forEach(ctx, s.devs, s.job.DialConcurrency, func(d *device) {
			if err := d.register(ctx, s.job.Server, s.dialers.pick(d.idx)); err != nil {
				s.st.fail(err)
				return
			}
			s.st.registered.Add(1)
			d.close()
			d.conn = nil
		})
	case phaseConnect, phaseConnect2:
		// Half the devices in each phase: the coordinator reads the
		// server's memory between the two, so the growth over the second
		// half is free of what fills once during the first connects.
		devs := s.devs[:len(s.devs)/2]
		if name == phaseConnect2 {
			devs = s.devs[len(s.devs)/2:]
		}
		forEach(ctx, devs, s.job.DialConcurrency, func(d *device) {
			var err error
			if s.useWS {
				err = d.authenticateWS(ctx, s.ws, s.dialers.source(d.idx))
			} else {
				err = d.authenticate(ctx, s.job.Server, s.dialers.pick(d.idx))
			}
			if err != nil {
				s.st.fail(err)
				return
			}
			s.st.connected.Add(1)
			if d.ws != nil {
				s.loops.Go(func() { s.serveWS(d) })
			} else {
				s.loops.Go(func() { s.events(d) })
			}
		})
		if name == phaseConnect2 {
			s.loops.Go(func() { s.ping(ctx) })
		}
	case phaseClose:
		s.close()
	}
	return ctx.Err()
}

// events acknowledges whatever the server pushes (an idle device has no
// mail, but a well-behaved client acks anyway) and counts a connection
// that ends before the bench closes it.
func (s *idle) events(d *device) {
	var last uint64
	for ev := range d.conn.Events() {
		if ev.Seq > last {
			last = ev.Seq
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			d.conn.Call(ctx, &proto.Request{Body: &proto.Request_Ack{Ack: &proto.Ack{UpToSeq: last}}})
			cancel()
		}
	}
	if !s.closing.Load() {
		s.st.fail(d.conn.Err())
	}
}

// serveWS is events for a connection of the bench's own client.
func (s *idle) serveWS(d *device) {
	err := d.ws.serve()
	if !s.closing.Load() {
		s.st.fail(err)
	}
}

// ping keeps every connection alive during a long hold.
func (s *idle) ping(ctx context.Context) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		}
		forEach(ctx, s.devs, s.job.DialConcurrency, func(d *device) {
			switch {
			case d.ws != nil:
				d.ws.send(&proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}}) // the answer is read by serveWS
			case d.conn != nil:
				d.call(ctx, &proto.Request{Body: &proto.Request_Ping{Ping: &proto.Ping{}}})
			}
		})
	}
}

// close ends every connection and waits for the goroutines; it may run
// twice (the close phase, then the worker's cleanup).
func (s *idle) close() {
	if s.closing.Swap(true) {
		return
	}
	close(s.stop)
	forEach(context.Background(), s.devs, s.job.DialConcurrency, (*device).close)
	s.loops.Wait()
}
