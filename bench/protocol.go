package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Job is what a worker is asked to do, the first line the coordinator
// writes to it. Device indexes [First, First+Count) of a run of Devices
// are this worker's; every device's keys, handle and group follow from
// Run and its index, so workers need not talk to each other.
type Job struct {
	Scenario string `json:"scenario"`
	Server   string `json:"server"`
	// Run names the run: 8 hex digits, fresh for every run, so handles
	// never collide with an earlier run's on the same server.
	Run     string `json:"run"`
	Worker  int    `json:"worker"`
	First   int    `json:"first"`
	Count   int    `json:"count"`
	Devices int    `json:"devices"`

	DialConcurrency int `json:"dial_concurrency"`
	// Rate is the total send rate of the ring; Max ignores it.
	Rate     float64       `json:"rate,omitempty"`
	Max      bool          `json:"max,omitempty"`
	Window   int           `json:"window,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	Size     int           `json:"size,omitempty"`
	MLS      bool          `json:"mls,omitempty"`
	Messages int           `json:"messages,omitempty"`
	// Stalled devices (ring): how many in the whole run, and the mail
	// each is sent.
	Stalled         int `json:"stalled,omitempty"`
	StalledMessages int `json:"stalled_messages,omitempty"`
	StalledSize     int `json:"stalled_size,omitempty"`
	// StalledReading: they keep reading (a control run).
	StalledReading bool `json:"stalled_reading,omitempty"`
}

// Phases of each scenario, in order. The coordinator starts each phase
// on every worker at once ("go") and waits for all of them ("done"), so
// figures of one phase are never mixed with another's.
var phases = map[string][]string{
	ScenarioIdle:  {phaseRegister, phaseConnect, phaseConnect2, phaseClose},
	ScenarioRing:  {phaseRegister, phaseCreate, phaseSend, phaseResume, phaseClose},
	ScenarioBurst: {phaseRegister, phaseCreate, phaseFill, phaseBurst, phaseClose},
}

const (
	phaseRegister = "register" // create the accounts (ring: and stay connected)
	phaseConnect  = "connect"  // idle: connect and authenticate the first half of the devices
	phaseConnect2 = "connect2" // idle: the second half (the server's memory is read between the two)
	phaseCreate   = "create"   // ring: create each device's conversation with the next
	phaseSend     = "send"     // ring: send for the duration
	phaseResume   = "resume"   // ring: stalled devices read again, reconnect and drain (a no-op without them)
	phaseFill     = "fill"     // burst: fill the mailboxes without acknowledging, then disconnect
	phaseBurst    = "burst"    // burst: reconnect every device at once (draining continues after)
	phaseClose    = "close"    // close every connection
)

// command is a line from the coordinator after the job.
type command struct {
	Go string `json:"go"` // the phase to run now
}

// message is a line from a worker: exactly one field is set.
type message struct {
	Progress *Counters    `json:"progress,omitempty"`
	Done     *PhaseTime   `json:"done,omitempty"`
	Result   *WorkerStats `json:"result,omitempty"`
	Error    string       `json:"error,omitempty"`
}

// Counters are a worker's running totals.
type Counters struct {
	Registered int64 `json:"registered"`
	Connected  int64 `json:"connected"`
	Created    int64 `json:"created"`
	// Attempted sends, Sent (acknowledged by the server), Delivered
	// (received by the ring's next device).
	Attempted int64 `json:"attempted"`
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"` // errors of any code
	// Errors counts failures by code (a proto.Code name or a bench key).
	Errors map[string]int64 `json:"errors,omitempty"`
	// Stalled devices (ring --stalled): mail acknowledged to their
	// feeders, mail they drained after reconnecting (each message once),
	// and how their stalled connections ended (a proto.Code name or an
	// end* key).
	StalledSent      int64            `json:"stalled_sent,omitempty"`
	StalledDelivered int64            `json:"stalled_delivered,omitempty"`
	StalledEnds      map[string]int64 `json:"stalled_ends,omitempty"`
}

func (c *Counters) add(o Counters) {
	c.Registered += o.Registered
	c.Connected += o.Connected
	c.Created += o.Created
	c.Attempted += o.Attempted
	c.Sent += o.Sent
	c.Delivered += o.Delivered
	c.Failed += o.Failed
	c.StalledSent += o.StalledSent
	c.StalledDelivered += o.StalledDelivered
	for k, v := range o.StalledEnds {
		if c.StalledEnds == nil {
			c.StalledEnds = map[string]int64{}
		}
		c.StalledEnds[k] += v
	}
	for k, v := range o.Errors {
		if c.Errors == nil {
			c.Errors = map[string]int64{}
		}
		c.Errors[k] += v
	}
}

// PhaseTime is when a worker ran a phase (Unix nanoseconds of the host
// clock, which all workers share).
type PhaseTime struct {
	Phase string `json:"phase"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	// CPU is the worker process's CPU time during the phase (seconds):
	// the load generator competes with the server for this host's cores.
	CPU float64 `json:"cpu,omitempty"`
}

// WorkerStats is a worker's final result.
type WorkerStats struct {
	Counters
	Latency Histogram `json:"latency"`
	// LateLatency is Latency of the ring's messages sent in the last
	// lateShare of the send phase.
	LateLatency Histogram            `json:"late_latency"`
	Phases      map[string]PhaseTime `json:"phases"`
	// FirstSend and LastDelivery bound the ring's traffic (Unix ns).
	FirstSend    int64 `json:"first_send,omitempty"`
	LastDelivery int64 `json:"last_delivery,omitempty"`
	// FileLimit is the worker's RLIMIT_NOFILE after raising it.
	FileLimit uint64 `json:"file_limit,omitempty"`
}

// lineWriter writes JSON lines from several goroutines.
type lineWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newLineWriter(w io.Writer) *lineWriter { return &lineWriter{enc: json.NewEncoder(w)} }

func (l *lineWriter) write(v any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.enc.Encode(v); err != nil {
		return fmt.Errorf("bench: write to coordinator: %w", err)
	}
	return nil
}
