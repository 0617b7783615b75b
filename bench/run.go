package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Run runs one scenario against a server and returns its report. It
// ends by itself: every phase is bounded, and the whole run by
// Options.Timeout.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if err := o.validate(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var id [4]byte
	rand.Read(id[:])
	c := &coordinator{
		o: o, runID: hex.EncodeToString(id[:]), hc: &http.Client{},
		msgs: make(chan workerMsg), progress: newProgress(o.Progress, o.ProgressTTY),
		rep: newReport(o),
	}
	return c.run(ctx)
}

// coordinator drives the workers through the phases and gathers their
// figures.
type coordinator struct {
	o     Options
	runID string
	hc    *http.Client

	workers []*Worker
	msgs    chan workerMsg // from every worker's reader
	live    int            // readers still running

	counters []Counters // latest progress per worker
	done     []map[string]PhaseTime
	results  []*WorkerStats
	progress *progress
	phase    string

	rep *Report
	rss *rssSampler // server RSS while stalled devices hold mail; nil without them
}

// workerMsg is a message from worker w, or its end (eof).
type workerMsg struct {
	w   int
	m   message
	eof bool
	err error
}

func (c *coordinator) run(ctx context.Context) (rep *Report, err error) {
	n := c.o.Procs
	c.counters = make([]Counters, n)
	c.results = make([]*WorkerStats, n)
	c.done = make([]map[string]PhaseTime, n)
	defer func() {
		_, _ = c.rss.stop()
		if cerr := c.shutdown(); err == nil && cerr != nil {
			err = cerr
		}
		c.progress.finish()
	}()
	for w := range n {
		first, end := w*c.o.Devices/n, (w+1)*c.o.Devices/n
		job := Job{
			Scenario: c.o.Scenario, Server: c.o.Server, Run: c.runID, Worker: w,
			First: first, Count: end - first, Devices: c.o.Devices,
			DialConcurrency: c.o.DialConcurrency, Rate: c.o.Rate, Max: c.o.Max, Window: c.o.Window,
			Duration: c.o.Duration, Size: c.o.Size, MLS: c.o.MLS, Messages: c.o.Messages,
			Stalled: c.o.Stalled, StalledMessages: c.o.StalledMessages, StalledSize: c.o.StalledSize,
			StalledReading: c.o.StalledReading,
		}
		if err := c.start(ctx, w, &job); err != nil {
			return nil, err
		}
	}
	for _, p := range phases[c.o.Scenario] {
		if err := c.before(ctx, p); err != nil {
			return nil, err
		}
		c.phase = p
		c.progress.phase(p)
		for _, wk := range c.workers {
			if err := json.NewEncoder(wk.In).Encode(command{Go: p}); err != nil {
				return nil, fmt.Errorf("bench: starting %s: %w", p, err)
			}
		}
		// A ring with a missing device or conversation would measure
		// something else: stop at the first failure of its setup.
		strict := c.o.Scenario != ScenarioIdle && (p == phaseRegister || p == phaseCreate)
		failed := c.total().Failed
		broken := func() bool { return strict && c.total().Failed > failed }
		if _, err := c.await(ctx, time.Time{}, func() bool { return c.allDone(p) || broken() }); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", p, err)
		}
		if broken() {
			return nil, fmt.Errorf("bench: %s failed (errors so far: %s); is %s a Parley server with open registration?", p, codes(c.total().Errors), c.o.Server)
		}
		if err := c.after(ctx, p); err != nil {
			return nil, err
		}
	}
	if _, err := c.await(ctx, time.Time{}, c.allResults); err != nil {
		return nil, fmt.Errorf("bench: waiting for results: %w", err)
	}
	c.rep.finish(c.results)
	return c.rep, nil
}

// start launches worker w and its reader.
func (c *coordinator) start(ctx context.Context, w int, job *Job) error {
	wk, err := c.o.Launcher.Launch(ctx)
	if err != nil {
		return err
	}
	c.workers = append(c.workers, wk)
	c.live++
	go func() {
		dec := json.NewDecoder(wk.Out)
		for {
			var m message
			if err := dec.Decode(&m); err != nil {
				c.msgs <- workerMsg{w: w, eof: true, err: err}
				return
			}
			c.msgs <- workerMsg{w: w, m: m}
		}
	}()
	if err := json.NewEncoder(wk.In).Encode(job); err != nil {
		return fmt.Errorf("bench: sending worker %d its job: %w", w, err)
	}
	return nil
}

// await handles worker messages until cond holds (true), the deadline
// passes (false; a zero deadline never passes), a worker fails or ctx
// ends.
func (c *coordinator) await(ctx context.Context, deadline time.Time, cond func() bool) (bool, error) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	for !cond() {
		select {
		case wm := <-c.msgs:
			if err := c.handle(wm); err != nil {
				return false, err
			}
		case <-tick.C:
			c.progress.show(c.total(), len(c.workers))
		case <-timeout:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("%w (the run's --timeout is %v)", ctx.Err(), c.o.Timeout)
		}
	}
	return true, nil
}

func (c *coordinator) handle(wm workerMsg) error {
	if wm.eof {
		c.live--
		c.workers[wm.w].In.Close()
		if c.results[wm.w] == nil {
			werr := c.workers[wm.w].Wait()
			c.workers[wm.w] = nil
			return fmt.Errorf("worker %d ended before its result: %v", wm.w, errors.Join(werr, wm.err))
		}
		return nil
	}
	m := wm.m
	switch {
	case m.Error != "":
		return fmt.Errorf("worker %d: %s", wm.w, m.Error)
	case m.Progress != nil:
		c.counters[wm.w] = *m.Progress
	case m.Done != nil:
		if c.done[wm.w] == nil {
			c.done[wm.w] = map[string]PhaseTime{}
		}
		c.done[wm.w][m.Done.Phase] = *m.Done
	case m.Result != nil:
		c.results[wm.w] = m.Result
		c.counters[wm.w] = m.Result.Counters
		// Nothing more is expected: let the worker finish.
		c.workers[wm.w].In.Close()
	}
	return nil
}

func (c *coordinator) allDone(p string) bool {
	for _, d := range c.done {
		if _, ok := d[p]; !ok {
			return false
		}
	}
	return true
}

func (c *coordinator) allResults() bool {
	for _, r := range c.results {
		if r == nil {
			return false
		}
	}
	return true
}

func (c *coordinator) total() Counters {
	var t Counters
	for _, w := range c.counters {
		t.add(w)
	}
	return t
}

// shutdown closes every worker's input (which stops it), drains their
// messages until every reader has ended, and waits for them.
func (c *coordinator) shutdown() error {
	for _, wk := range c.workers {
		if wk != nil {
			wk.In.Close()
		}
	}
	for c.live > 0 {
		wm := <-c.msgs
		if wm.eof {
			c.live--
		}
	}
	var errs []error
	for w, wk := range c.workers {
		if wk == nil {
			continue
		}
		if err := wk.Wait(); err != nil && c.results[w] == nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", w, err))
		}
	}
	return errors.Join(errs...)
}

// before runs the coordinator's part ahead of a phase: the server's
// figures the phase will be compared against.
func (c *coordinator) before(ctx context.Context, p string) error {
	measured := c.o.Scenario == ScenarioRing && p == phaseSend || c.o.Scenario == ScenarioBurst && p == phaseBurst
	if measured {
		c.rep.otherBefore = c.otherCPU()
	}
	if c.o.MetricsURL == "" {
		return nil
	}
	if measured || c.o.Scenario == ScenarioIdle && p == phaseConnect {
		s, err := scrape(ctx, c.hc, c.o.MetricsURL)
		if err != nil {
			return err
		}
		c.rep.before = s
		if c.o.Stalled > 0 && p == phaseSend {
			c.rss = startRSSSampler(ctx, c.hc, c.o.MetricsURL)
		}
	}
	return nil
}

// after runs the coordinator's part after a phase.
func (c *coordinator) after(ctx context.Context, p string) error {
	if p == phaseCreate {
		if t := c.total(); t.Created < int64(c.o.Devices) {
			return fmt.Errorf("bench: only %d of %d conversations were created (errors: %s)", t.Created, c.o.Devices, codes(t.Errors))
		}
	}
	if p == phaseRegister {
		// A ring with holes would measure something else; idle goes on
		// with the devices it has, if any.
		t := c.total()
		if t.Registered == 0 || c.o.Scenario != ScenarioIdle && t.Registered < int64(c.o.Devices) {
			return fmt.Errorf("bench: only %d of %d devices registered (errors: %s); is %s a Parley server with open registration?",
				t.Registered, c.o.Devices, codes(t.Errors), c.o.Server)
		}
	}
	switch {
	case c.o.Scenario == ScenarioIdle && p == phaseConnect:
		return c.halfway(ctx)
	case c.o.Scenario == ScenarioIdle && p == phaseConnect2:
		// Hold the connections, then read the server's memory.
		if _, err := c.await(ctx, time.Now().Add(c.o.Hold), func() bool { return false }); err != nil {
			return err
		}
	case p == phaseResume:
		return c.afterResume(ctx)
	case c.o.Scenario == ScenarioRing && p == phaseSend, c.o.Scenario == ScenarioBurst && p == phaseBurst:
		// Wait for the messages still in flight (burst: for the
		// mailboxes to drain).
		c.progress.phase("drain")
		limit := drainTimeout
		if c.o.Scenario == ScenarioBurst {
			limit = burstDrainTimeout
		}
		drained, err := c.await(ctx, time.Now().Add(limit), func() bool {
			t := c.total()
			return t.Delivered >= t.Sent
		})
		if err != nil {
			return err
		}
		if !drained {
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("not every acknowledged message arrived within %v", limit))
		}
		c.rep.otherAfter = c.otherCPU()
	default:
		return nil
	}
	if c.o.MetricsURL == "" {
		return nil
	}
	s, err := scrape(ctx, c.hc, c.o.MetricsURL)
	if err != nil {
		return err
	}
	c.rep.after = s
	return nil
}

// halfway reads the server's memory when half of the idle devices are
// connected, after halfSettle (or the hold, if shorter) for a collection
// to run; the workers wait for the next phase meanwhile.
func (c *coordinator) halfway(ctx context.Context) error {
	c.rep.ConnectedHalf = c.total().Connected
	if c.o.MetricsURL == "" {
		return nil
	}
	if _, err := c.await(ctx, time.Now().Add(min(halfSettle, c.o.Hold)), func() bool { return false }); err != nil {
		return err
	}
	s, err := scrape(ctx, c.hc, c.o.MetricsURL)
	if err != nil {
		return err
	}
	c.rep.half = s
	return nil
}

// otherCPU reads the CPU time of the processes named in AlsoCPU.
func (c *coordinator) otherCPU() map[string]float64 {
	if len(c.o.AlsoCPU) == 0 {
		return nil
	}
	m := map[string]float64{}
	for _, name := range c.o.AlsoCPU {
		if v, ok := processCPU(name); ok {
			m[name] = v
		}
	}
	return m
}
