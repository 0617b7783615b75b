package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// progressEvery is how often a worker reports its counters.
const progressEvery = 200 * time.Millisecond

// scenario is a worker's side of a scenario: it runs the phases named in
// phases, in order, and closes whatever is left when the run ends early.
type scenario interface {
	phase(ctx context.Context, name string) error
	close()
}

var runPattern = regexp.MustCompile(`^[0-9a-f]{8}$`)

// validJob checks a job from the coordinator: a worker is started by its
// own binary, but its input is still input.
func validJob(j *Job) error {
	switch {
	case phases[j.Scenario] == nil:
		return fmt.Errorf("unknown scenario %q", j.Scenario)
	case !runPattern.MatchString(j.Run):
		return fmt.Errorf("run id %q: want 8 hex digits", j.Run)
	case j.Devices < 1 || j.Devices > MaxDevices || j.First < 0 || j.Count < 1 || j.First+j.Count > j.Devices:
		return fmt.Errorf("devices [%d, %d) of %d: out of range", j.First, j.First+j.Count, j.Devices)
	case j.DialConcurrency < 1 || j.DialConcurrency > MaxDialConcurrency:
		return fmt.Errorf("dial concurrency %d: want 1 to %d", j.DialConcurrency, MaxDialConcurrency)
	case j.Scenario == ScenarioRing && (j.Duration <= 0 || j.Duration > MaxDuration || j.Window < 1 || j.Window > MaxWindow ||
		j.Size < MinSize || j.Size > 64<<10 || !j.Max && j.Rate <= 0):
		return errors.New("ring: duration, window, size or rate out of range")
	case j.Stalled < 0 || j.Stalled > MaxDevices || j.Stalled > 0 && (j.Scenario != ScenarioRing || j.MLS ||
		j.StalledMessages < 1 || j.StalledMessages > MaxMessages || j.StalledSize < MinSize || j.StalledSize > 64<<10):
		return errors.New("stalled devices: count, messages or size out of range")
	case j.Scenario == ScenarioBurst && (j.Messages < 1 || j.Messages > MaxMessages || j.Window < 1 || j.Window > MaxWindow ||
		j.Size < MinSize || j.Size > 64<<10 || j.MLS):
		return errors.New("burst: messages, window or size out of range")
	}
	return nil
}

// ServeWorker runs one worker: it reads a Job and then phase commands
// from r and writes progress, phase completions and its result (or an
// error) to w as JSON lines. It returns once the job is done or has
// failed and r has been closed: the coordinator closes a worker's input
// after its result or error, or to abort it.
func ServeWorker(ctx context.Context, r io.Reader, w io.Writer) error {
	out := newLineWriter(w)
	dec := json.NewDecoder(r)
	var job Job
	if err := dec.Decode(&job); err != nil {
		err = fmt.Errorf("bench worker: reading the job: %w", err)
		out.write(message{Error: err.Error()})
		return err
	}

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The reader turns commands into a channel; when the coordinator
	// closes our input, it cancels the run.
	gos := make(chan string)
	var inputClosed atomic.Bool
	var reader sync.WaitGroup
	reader.Go(func() {
		defer cancel()
		defer inputClosed.Store(true)
		defer close(gos)
		for {
			var c command
			if err := dec.Decode(&c); err != nil {
				return
			}
			select {
			case gos <- c.Go:
			case <-ctx.Done():
				return
			}
		}
	})
	err := runJob(ctx, &job, gos, out)
	if err != nil && (inputClosed.Load() || parent.Err() != nil) {
		// Stopped by the coordinator (or with it, by a signal): it
		// reports why itself.
		err = nil
	} else if err != nil {
		out.write(message{Error: err.Error()})
	}
	cancel()
	reader.Wait()
	return err
}

// runJob runs the job's phases as the coordinator starts them.
func runJob(ctx context.Context, job *Job, gos <-chan string, out *lineWriter) error {
	if err := validJob(job); err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	limit, err := raiseFileLimit()
	if err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	// Stalled devices this worker holds: about its share of them.
	conns := job.Count + (job.Stalled+job.Devices-1)/job.Devices*job.Count
	if limit > 0 && uint64(conns)+maxFilesSlack > limit {
		return fmt.Errorf("bench worker: %d connections need more than the %d open files this process may hold; use more --procs", conns, limit)
	}

	st := newStats()
	var sc scenario
	switch {
	case job.Scenario == ScenarioIdle:
		sc = newIdle(job, st)
	case job.MLS:
		sc = newMLSRing(job, st)
	default:
		sc = newRing(job, st)
	}
	defer sc.close()

	var progress sync.WaitGroup
	stop := make(chan struct{})
	stopProgress := sync.OnceFunc(func() { close(stop); progress.Wait() })
	defer stopProgress()
	progress.Go(func() {
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				c := st.counters()
				out.write(message{Progress: &c})
			case <-stop:
				return
			}
		}
	})

	times := map[string]PhaseTime{}
	for _, p := range phases[job.Scenario] {
		select {
		case g, ok := <-gos:
			if !ok {
				return errors.New("bench worker: the coordinator went away")
			}
			if g != p {
				return fmt.Errorf("bench worker: told to run %q, expected %q", g, p)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		pt := PhaseTime{Phase: p, Start: time.Now().UnixNano()}
		cpu := processCPUSelf()
		if err := sc.phase(ctx, p); err != nil {
			return fmt.Errorf("bench worker %d: %s: %w", job.Worker, p, err)
		}
		pt.End = time.Now().UnixNano()
		pt.CPU = processCPUSelf() - cpu
		times[p] = pt
		// Counters first: the coordinator judges the phase by them.
		c := st.counters()
		if err := out.write(message{Progress: &c}); err != nil {
			return err
		}
		if err := out.write(message{Done: &pt}); err != nil {
			return err
		}
	}
	// The result is the last line: no progress after it.
	stopProgress()
	res := st.result()
	res.Phases = times
	res.FileLimit = limit
	return out.write(message{Result: res})
}

// forEach calls f for every device with at most n calls at once, and
// returns when all calls have returned. It stops starting calls when
// ctx ends.
func forEach[T any](ctx context.Context, items []T, n int, f func(T)) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			f(it)
		})
	}
	wg.Wait()
}

// nextIndex is the ring's next device after idx.
func nextIndex(idx, n int) int { return (idx + 1) % n }

// prevIndex is the ring's device before idx.
func prevIndex(idx, n int) int { return (idx - 1 + n) % n }
