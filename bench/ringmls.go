package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/client"
)

const (
	// mlsPrefix starts a timed ring message, mlsWarmPrefix the first
	// message that creates a conversation (not timed).
	mlsPrefix     = "pb1 "
	mlsWarmPrefix = "pbw "
	// mlsDialConcurrency bounds SDK clients set up at once: each
	// registration uploads MLS key packages, which costs CPU on both
	// sides.
	mlsDialConcurrency = 8
)

// mlsRing is the MLS-on ring: full SDK clients with temporary profiles,
// sending real MLS-encrypted text. A client sends one message at a time
// (the SDK serializes a conversation's sends), so Window does not apply.
type mlsRing struct {
	job     *Job
	st      *stats
	dialers *dialers
	dir     string
	clients []*client.Client // nil where registration failed
	quit    chan struct{}

	warmed    atomic.Int64
	allWarmed chan struct{}
	loops     sync.WaitGroup
	closeOnce sync.Once
}

func newMLSRing(job *Job, st *stats) *mlsRing {
	return &mlsRing{job: job, st: st, dialers: newDialers(job.Server), quit: make(chan struct{}),
		clients: make([]*client.Client, job.Count), allWarmed: make(chan struct{})}
}

func (r *mlsRing) phase(ctx context.Context, name string) error {
	idxs := make([]int, r.job.Count)
	for i := range idxs {
		idxs[i] = i
	}
	conc := min(r.job.DialConcurrency, mlsDialConcurrency)
	switch name {
	case phaseRegister:
		dir, err := os.MkdirTemp("", "parley-bench-")
		if err != nil {
			return err
		}
		r.dir = dir
		forEach(ctx, idxs, conc, func(i int) {
			if err := r.register(ctx, i); err != nil {
				r.st.fail(err)
			}
		})
	case phaseCreate:
		forEach(ctx, idxs, conc, func(i int) {
			c := r.clients[i]
			if c == nil {
				return
			}
			if _, err := c.Send(ctx, handleOf(r.job.Run, nextIndex(r.job.First+i, r.job.Devices)), mlsWarmPrefix+"hello"); err != nil {
				r.st.fail(err)
				return
			}
			r.st.created.Add(1)
		})
		t := time.NewTimer(createWait)
		defer t.Stop()
		select {
		case <-r.allWarmed:
		case <-t.C:
			for range int64(r.job.Count) - r.warmed.Load() {
				r.st.failCode(errNoWelcome)
			}
		case <-ctx.Done():
		}
	case phaseSend:
		start := time.Now()
		end := start.Add(r.job.Duration)
		var senders sync.WaitGroup
		for i, c := range r.clients {
			if c != nil {
				senders.Go(func() { r.sendLoop(ctx, c, r.job.First+i, start, end) })
			}
		}
		senders.Wait()
	case phaseClose:
		r.close()
	}
	return ctx.Err()
}

func (r *mlsRing) register(ctx context.Context, i int) error {
	idx := r.job.First + i
	c, err := client.Dial(ctx, client.Options{
		Profile: filepath.Join(r.dir, strconv.Itoa(idx)), Server: r.job.Server,
		DeviceName: deviceName, HTTPClient: r.dialers.pick(idx),
	})
	if err != nil {
		return err
	}
	if err := c.Register(ctx, handleOf(r.job.Run, idx)); err != nil {
		c.Close()
		return err
	}
	r.st.registered.Add(1)
	r.st.connected.Add(1)
	r.clients[i] = c
	r.loops.Go(func() { r.events(c) })
	return nil
}

// sendLoop sends texts from c to the next device until end, on schedule
// or back to back with Max; a text carries its send (or scheduled) time.
func (r *mlsRing) sendLoop(ctx context.Context, c *client.Client, idx int, start, end time.Time) {
	to := handleOf(r.job.Run, nextIndex(idx, r.job.Devices))
	var interval time.Duration
	next := start
	if !r.job.Max {
		interval = time.Duration(float64(time.Second) * float64(r.job.Devices) / r.job.Rate)
		next = start.Add(interval * time.Duration(idx) / time.Duration(r.job.Devices))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		stamp := time.Now()
		if !r.job.Max {
			if !next.Before(end) {
				return
			}
			timer.Reset(time.Until(next))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
			stamp, next = next, next.Add(interval)
		} else if !stamp.Before(end) {
			return
		}
		text := mlsPrefix + strconv.FormatInt(stamp.UnixNano(), 10) + " "
		text += strings.Repeat("x", max(0, r.job.Size-len(text)))
		r.st.sending(stamp)
		sctx, cancel := context.WithTimeout(ctx, callTimeout)
		_, err := c.Send(sctx, to, text)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.st.fail(err)
			continue
		}
		r.st.sent.Add(1)
	}
}

// events times ring messages and counts warm-ups; receipts and other
// events are ignored (the SDK sends delivery receipts on its own, which
// the server carries like any message).
func (r *mlsRing) events(c *client.Client) {
	for {
		select {
		case ev := <-c.Events():
			m, ok := ev.(client.MessageEvent)
			if !ok || m.Message.Outgoing {
				continue
			}
			text := m.Message.Text
			switch {
			case strings.HasPrefix(text, mlsWarmPrefix):
				if r.warmed.Add(1) == int64(r.job.Count) {
					close(r.allWarmed)
				}
			case strings.HasPrefix(text, mlsPrefix):
				f := strings.Fields(text[len(mlsPrefix):])
				if len(f) == 0 {
					continue
				}
				if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					r.st.receive(time.Unix(0, ns))
				}
			}
		case <-r.quit:
			return
		}
	}
}

func (r *mlsRing) close() {
	r.closeOnce.Do(func() {
		forEach(context.Background(), r.clients, mlsDialConcurrency, func(c *client.Client) {
			if c != nil {
				c.Close()
			}
		})
		close(r.quit)
		r.loops.Wait()
		if r.dir != "" {
			if err := os.RemoveAll(r.dir); err != nil {
				fmt.Fprintf(os.Stderr, "parley bench: removing %s: %v\n", r.dir, err)
			}
		}
	})
}
