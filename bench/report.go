package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parleyhq/parley/proto"
)

// Modes as the report names them.
const (
	modeMLSOff = "MLS off: light devices send random ciphertext; the server never opens application messages, so this is its exact path without client encryption"
	modeMLSOn  = "MLS on: full SDK clients exchange MLS-encrypted texts (and the SDK's delivery receipts)"
	modeIdle   = "light devices: an Ed25519 key and one WebSocket each, registered, then reconnected and authenticated"
	modeBurst  = "light devices (MLS off): mailboxes filled while unacknowledged, then every device reconnects at once and drains"
)

// Report is a run's outcome. Durations are in seconds or milliseconds as
// their names say; zero server figures mean no metrics URL was given.
type Report struct {
	Scenario string    `json:"scenario"`
	Label    string    `json:"label,omitempty"`
	Mode     string    `json:"mode"`
	MLS      bool      `json:"mls"`
	Server   string    `json:"server"`
	Procs    int       `json:"procs"`
	Devices  int       `json:"devices"`
	Started  time.Time `json:"started"`
	// LoadBefore and LoadAfter are the host's 1-minute load average (the
	// machine may be shared).
	LoadBefore float64 `json:"load_before,omitempty"`
	LoadAfter  float64 `json:"load_after,omitempty"`

	Registered        int64   `json:"registered"`
	RegisterSeconds   float64 `json:"register_seconds"`
	RegisterPerSecond float64 `json:"register_per_second"`

	// Idle.
	Connected           int64   `json:"connected"`
	ConnectSeconds      float64 `json:"connect_seconds,omitempty"`
	ConnectPerSecond    float64 `json:"connect_per_second,omitempty"`
	ServerAuthenticated float64 `json:"server_authenticated,omitempty"`
	ServerRSSBefore     float64 `json:"server_rss_before,omitempty"`
	ServerRSSAfter      float64 `json:"server_rss_after,omitempty"`
	RSSPerConnection    float64 `json:"rss_per_connection_bytes,omitempty"`
	HeapPerConnection   float64 `json:"heap_per_connection_bytes,omitempty"`
	// The marginal figures: growth from the half mark (ConnectedHalf
	// devices authenticated, the server read after a pause) to the end,
	// over the connections of the second half. Unlike the figures above
	// they leave out what fills once during the first connects and then
	// stays (the embedded store's page caches, the runtime's arenas).
	ConnectedHalf             int64   `json:"connected_half,omitempty"`
	ServerRSSHalf             float64 `json:"server_rss_half,omitempty"`
	ServerHeapHalf            float64 `json:"server_heap_half,omitempty"`
	MarginalRSSPerConnection  float64 `json:"marginal_rss_per_connection_bytes,omitempty"`
	MarginalHeapPerConnection float64 `json:"marginal_heap_per_connection_bytes,omitempty"`

	// Burst: Messages waited in each mailbox; Connected and the connect
	// figures are the reconnections, Sent the mail filled in, Delivered
	// the mail drained, Latency the time from the burst's start to each
	// message's arrival.
	Messages      int     `json:"messages,omitempty"`
	DrainSeconds  float64 `json:"drain_seconds,omitempty"`
	DrainedPerSec float64 `json:"drained_per_second,omitempty"`

	// Ring.
	Rate               float64       `json:"rate,omitempty"` // requested total; 0 with Max
	Max                bool          `json:"max,omitempty"`
	Window             int           `json:"window,omitempty"`
	Size               int           `json:"size,omitempty"`
	Duration           float64       `json:"duration_seconds,omitempty"`
	Created            int64         `json:"created,omitempty"`
	Attempted          int64         `json:"attempted,omitempty"`
	Sent               int64         `json:"sent,omitempty"`
	Delivered          int64         `json:"delivered,omitempty"`
	DeliveredPerSecond float64       `json:"delivered_per_second,omitempty"`
	Latency            LatencyReport `json:"latency"`
	// LateLatency is the ring's latency over the last 40 % of the send
	// phase (after the stalled devices' mail, with --stalled).
	LateLatency      LatencyReport `json:"late_latency"`
	ServerCPUSeconds float64       `json:"server_cpu_seconds,omitempty"`
	CPUPer1000       float64       `json:"server_cpu_ms_per_1000,omitempty"`
	// OtherCPUSeconds is the CPU time of the AlsoCPU processes (a store
	// in another process) over the same phase; CPUPer1000WithOthers
	// adds it to the server's.
	OtherCPUSeconds      map[string]float64 `json:"other_cpu_seconds,omitempty"`
	CPUPer1000WithOthers float64            `json:"cpu_ms_per_1000_with_others,omitempty"`

	// Stalled devices (ring --stalled): how many, the mail each was sent
	// (acknowledged to its feeder) and drained after reconnecting, how
	// their stalled connections ended as the devices saw it, the server's
	// slow-consumer cuts over the run, and its RSS before the send phase,
	// at its peak while they were stalled, at the end of the send phase
	// and after they drained. StalledBoundBytes is the most mail the
	// server may hold for them in memory (see stalledBound).
	Stalled                int              `json:"stalled,omitempty"`
	StalledMessages        int              `json:"stalled_messages,omitempty"`
	StalledSize            int              `json:"stalled_size,omitempty"`
	StalledSent            int64            `json:"stalled_sent,omitempty"`
	StalledDelivered       int64            `json:"stalled_delivered,omitempty"`
	StalledEnds            map[string]int64 `json:"stalled_ends,omitempty"`
	ServerSlowConsumerCuts float64          `json:"server_slow_consumer_cuts,omitempty"`
	ServerRSSPeak          float64          `json:"server_rss_peak,omitempty"`
	ServerRSSFinal         float64          `json:"server_rss_final,omitempty"`
	// Go heap in use: before, peak, end of sends, after the drain (RSS
	// keeps freed memory until the runtime returns it to the system).
	ServerHeapBefore  float64 `json:"server_heap_before,omitempty"`
	ServerHeapPeak    float64 `json:"server_heap_peak,omitempty"`
	ServerHeapAfter   float64 `json:"server_heap_after,omitempty"`
	ServerHeapFinal   float64 `json:"server_heap_final,omitempty"`
	StalledReading    bool    `json:"stalled_reading,omitempty"`
	StalledBoundBytes float64 `json:"stalled_bound_bytes,omitempty"`

	// ClientCPUSeconds is the workers' CPU time in the measured phase
	// (idle: connect; ring: send; burst: burst), when they run as
	// processes of their own.
	ClientCPUSeconds float64 `json:"client_cpu_seconds,omitempty"`

	// Errors seen by the devices, and counted by the server
	// (parley_errors_total over the measured phase), by code.
	Errors       map[string]int64 `json:"errors"`
	ServerErrors map[string]int64 `json:"server_errors,omitempty"`
	Notes        []string         `json:"notes,omitempty"`

	before, after, final    Sample // final: after the stalled devices drained
	half                    Sample // idle: at the half mark of the connect phase
	otherBefore, otherAfter map[string]float64
	inProcess               bool // workers share this process: their CPU is not theirs alone
}

// LatencyReport is end-to-end latency in milliseconds: from the time in
// the payload to its arrival at the next device.
type LatencyReport struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

func newReport(o Options) *Report {
	r := &Report{Scenario: o.Scenario, Label: o.Label, MLS: o.MLS, Server: o.Server, Procs: o.Procs,
		Devices: o.Devices, Started: time.Now().UTC().Truncate(time.Second), LoadBefore: loadAverage()}
	_, r.inProcess = o.Launcher.(InProcess)
	switch {
	case o.Scenario == ScenarioIdle:
		r.Mode = modeIdle
	case o.Scenario == ScenarioBurst:
		r.Mode = modeBurst
		r.Messages, r.Size, r.Window = o.Messages, o.Size, o.Window
	case o.MLS:
		r.Mode = modeMLSOn
	default:
		r.Mode = modeMLSOff
	}
	if o.Scenario == ScenarioRing {
		r.Max, r.Size, r.Duration = o.Max, o.Size, o.Duration.Seconds()
		if o.Max {
			r.Window = o.Window
			if o.MLS {
				r.Window = 1
			}
		} else {
			r.Rate = o.Rate
		}
		r.Stalled, r.StalledMessages, r.StalledSize, r.StalledReading = o.Stalled, o.StalledMessages, o.StalledSize, o.StalledReading
		r.StalledBoundBytes = stalledBound(o.Stalled, o.StalledMessages, o.StalledSize)
	}
	return r
}

// envelopeOverhead bounds what a pushed envelope adds to its ciphertext:
// ids, sequence, timestamps, protobuf and WebSocket framing.
const envelopeOverhead = 1 << 10

// serverWindowBytes is the server's push window in bytes (the gateway's
// maxInFlightBytes, with one entry's slack: an entry is pushed whole).
const serverWindowBytes = 1<<20 + proto.MaxCiphertextBytes + envelopeOverhead

// stalledBound is the most memory the server's send queues may hold for
// n stalled devices sent m messages of size bytes each: the server
// pushes at most proto.MaxEventBatch unacknowledged mailbox entries, and
// about 1 MiB of them, per connection (the rest waits in the mailbox),
// and a device that sends nothing gets no responses, so its bounded
// queue of other frames (server.DefaultSendQueue) stays empty. Kernel
// socket buffers (twice the server's send_buffer each) come on top of
// it; what they hold is part of the window, not of the server's heap.
func stalledBound(n, m, size int) float64 {
	perDevice := min(min(m, proto.MaxEventBatch)*(size+envelopeOverhead), serverWindowBytes)
	return float64(n) * float64(perDevice)
}

func latencyOf(h *Histogram) LatencyReport {
	return LatencyReport{Count: h.N, P50: ms(h.Quantile(0.5)), P90: ms(h.Quantile(0.9)),
		P99: ms(h.Quantile(0.99)), Max: ms(h.Max()), Mean: ms(h.Mean())}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// span is the time from the earliest start to the latest end of a phase
// over all workers.
func span(results []*WorkerStats, phase string) float64 {
	var start, end int64
	for _, w := range results {
		p, ok := w.Phases[phase]
		if !ok {
			continue
		}
		if start == 0 || p.Start < start {
			start = p.Start
		}
		end = max(end, p.End)
	}
	return time.Duration(end - start).Seconds()
}

func rate(n int64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}

// finish combines the workers' results and the server's samples.
func (r *Report) finish(results []*WorkerStats) {
	r.LoadAfter = loadAverage()
	var t Counters
	var h, late Histogram
	var firstSend, lastDelivery int64
	for _, w := range results {
		t.add(w.Counters)
		h.Merge(&w.Latency)
		late.Merge(&w.LateLatency)
		if w.FirstSend != 0 && (firstSend == 0 || w.FirstSend < firstSend) {
			firstSend = w.FirstSend
		}
		lastDelivery = max(lastDelivery, w.LastDelivery)
	}
	r.Registered, r.Connected, r.Created = t.Registered, t.Connected, t.Created
	r.Attempted, r.Sent, r.Delivered = t.Attempted, t.Sent, t.Delivered
	r.Errors = t.Errors
	r.StalledSent, r.StalledDelivered, r.StalledEnds = t.StalledSent, t.StalledDelivered, t.StalledEnds
	if lost := r.StalledSent - r.StalledDelivered; r.Stalled > 0 && lost > 0 {
		if t.Errors == nil {
			t.Errors = map[string]int64{}
		}
		t.Errors[errLost] += lost
		r.Errors = t.Errors
	}
	if r.Errors == nil {
		r.Errors = map[string]int64{}
	}
	measured := map[string]string{ScenarioIdle: phaseConnect, ScenarioRing: phaseSend, ScenarioBurst: phaseBurst}[r.Scenario]
	for _, w := range results {
		if !r.inProcess {
			r.ClientCPUSeconds += w.Phases[measured].CPU
			if r.Scenario == ScenarioIdle {
				r.ClientCPUSeconds += w.Phases[phaseConnect2].CPU
			}
		}
	}
	r.RegisterSeconds = span(results, phaseRegister)
	r.RegisterPerSecond = rate(r.Registered, r.RegisterSeconds)
	if r.Scenario == ScenarioIdle {
		// The two halves' time, without the pause between them.
		r.ConnectSeconds = span(results, phaseConnect) + span(results, phaseConnect2)
		r.ConnectPerSecond = rate(r.Connected, r.ConnectSeconds)
	}
	if r.Scenario == ScenarioBurst {
		r.ConnectSeconds = span(results, phaseBurst)
		r.ConnectPerSecond = rate(r.Connected, r.ConnectSeconds)
		var start int64
		for _, w := range results {
			if p, ok := w.Phases[phaseBurst]; ok && (start == 0 || p.Start < start) {
				start = p.Start
			}
		}
		if start != 0 && lastDelivery > start {
			r.DrainSeconds = time.Duration(lastDelivery - start).Seconds()
			r.DrainedPerSec = rate(r.Delivered, r.DrainSeconds)
		}
		if lost := r.Sent - r.Delivered; lost > 0 {
			r.Errors[errLost] += lost
		}
		r.Latency = latencyOf(&h)
	}
	if r.Scenario == ScenarioRing {
		if lost := r.Sent - r.Delivered; lost > 0 {
			r.Errors[errLost] += lost
		}
		if firstSend != 0 && lastDelivery > firstSend {
			r.DeliveredPerSecond = rate(r.Delivered, time.Duration(lastDelivery-firstSend).Seconds())
		}
		r.Latency = latencyOf(&h)
		r.LateLatency = latencyOf(&late)
	}
	r.serverFigures()
}

// serverFigures derives the server-side figures from the two samples.
func (r *Report) serverFigures() {
	b, a := r.before, r.after
	if b == nil || a == nil {
		return
	}
	switch r.Scenario {
	case ScenarioIdle:
		if !a.Has(metricRSS) {
			r.Notes = append(r.Notes, "the server exposes no "+metricRSS+": register the Prometheus process collector")
			break
		}
		r.ServerRSSBefore, r.ServerRSSAfter = b.Sum(metricRSS), a.Sum(metricRSS)
		r.ServerAuthenticated = a.Sum(metricAuthConns)
		if r.Connected > 0 {
			r.RSSPerConnection = (r.ServerRSSAfter - r.ServerRSSBefore) / float64(r.Connected)
			r.HeapPerConnection = (a.Sum(metricHeapInuse) - b.Sum(metricHeapInuse)) / float64(r.Connected)
		}
		if h := r.half; h != nil && h.Has(metricRSS) {
			r.ServerRSSHalf, r.ServerHeapHalf = h.Sum(metricRSS), h.Sum(metricHeapInuse)
			if n := r.Connected - r.ConnectedHalf; n > 0 {
				r.MarginalRSSPerConnection = (r.ServerRSSAfter - r.ServerRSSHalf) / float64(n)
				if h.Has(metricHeapInuse) && a.Has(metricHeapInuse) {
					r.MarginalHeapPerConnection = (a.Sum(metricHeapInuse) - r.ServerHeapHalf) / float64(n)
				}
			}
		}
	case ScenarioRing, ScenarioBurst:
		if !a.Has(metricCPU) {
			r.Notes = append(r.Notes, "the server exposes no "+metricCPU+": register the Prometheus process collector")
			break
		}
		r.ServerCPUSeconds = a.Sum(metricCPU) - b.Sum(metricCPU)
		total := r.ServerCPUSeconds
		for name, v := range r.otherAfter {
			if r.OtherCPUSeconds == nil {
				r.OtherCPUSeconds = map[string]float64{}
			}
			r.OtherCPUSeconds[name] = v - r.otherBefore[name]
			total += v - r.otherBefore[name]
		}
		if r.Delivered > 0 {
			r.CPUPer1000 = r.ServerCPUSeconds * 1000 / float64(r.Delivered) * 1000
			if r.OtherCPUSeconds != nil {
				r.CPUPer1000WithOthers = total * 1000 / float64(r.Delivered) * 1000
			}
		}
	}
	if r.Stalled > 0 {
		r.ServerRSSBefore, r.ServerRSSAfter = b.Sum(metricRSS), a.Sum(metricRSS)
		r.ServerHeapBefore, r.ServerHeapAfter = b.Sum(metricHeapInuse), a.Sum(metricHeapInuse)
		if r.final != nil {
			// Errors and cuts over the whole run, cuts after the send
			// phase included.
			a = r.final
			r.ServerRSSFinal = a.Sum(metricRSS)
			r.ServerHeapFinal = a.Sum(metricHeapInuse)
		}
		r.ServerSlowConsumerCuts = a.Sum(metricSlowCuts) - b.Sum(metricSlowCuts)
	}
	r.ServerErrors = map[string]int64{}
	for labels, v := range a[metricErrors] {
		if d := int64(v - b[metricErrors][labels]); d > 0 {
			r.ServerErrors[labelValue(labels, "code")] += d
		}
	}
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	title := "parley bench " + r.Scenario
	if r.Label != "" {
		title += " (" + r.Label + ")"
	}
	row(title, "%s", r.Started.Format(time.RFC3339))
	row("mode", "%s", r.Mode)
	row("server", "%s", r.Server)
	row("host load (1 min)", "%.2f before, %.2f after", r.LoadBefore, r.LoadAfter)
	row("devices / processes", "%d / %d", r.Devices, r.Procs)
	row("registered", "%d in %.2fs (%.0f/s)", r.Registered, r.RegisterSeconds, r.RegisterPerSecond)
	switch r.Scenario {
	case ScenarioIdle:
		row("connected + authenticated", "%d in %.2fs (%.0f/s)", r.Connected, r.ConnectSeconds, r.ConnectPerSecond)
		if r.ServerRSSAfter > 0 {
			row("server authenticated conns", "%.0f", r.ServerAuthenticated)
			if r.ServerRSSHalf > 0 {
				row("server RSS", "%s before, %s at %d connections, %s with connections", mib(r.ServerRSSBefore), mib(r.ServerRSSHalf), r.ConnectedHalf, mib(r.ServerRSSAfter))
			} else {
				row("server RSS", "%s before, %s with connections", mib(r.ServerRSSBefore), mib(r.ServerRSSAfter))
			}
			row("server memory per idle conn", "%.1f KiB RSS, %.1f KiB Go heap in use (whole connect phase, fixed costs included)", r.RSSPerConnection/1024, r.HeapPerConnection/1024)
			if r.ServerRSSHalf > 0 && r.Connected > r.ConnectedHalf {
				row("  marginal, second half", "%.1f KiB RSS, %.1f KiB Go heap in use (from %d to %d connections)",
					r.MarginalRSSPerConnection/1024, r.MarginalHeapPerConnection/1024, r.ConnectedHalf, r.Connected)
			}
		}
	case ScenarioRing:
		if r.Max {
			row("load", "as fast as the server answers, window %d per device, %d-byte payload, %gs", r.Window, r.Size, r.Duration)
		} else {
			row("load", "%.0f msgs/s in total, %d-byte payload, %gs", r.Rate, r.Size, r.Duration)
		}
		row("conversations created", "%d", r.Created)
		row("sent / acknowledged / delivered", "%d / %d / %d", r.Attempted, r.Sent, r.Delivered)
		row("delivered msgs/s", "%.0f", r.DeliveredPerSecond)
		row("latency p50 / p90 / p99 / max", "%.2f / %.2f / %.2f / %.2f ms (mean %.2f)", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.Mean)
		if l := r.LateLatency; l.Count > 0 {
			row("  last 40% of the send phase", "%.2f / %.2f / %.2f / %.2f ms (%d messages)", l.P50, l.P90, l.P99, l.Max, l.Count)
		}
		if r.ServerCPUSeconds > 0 {
			row("server CPU", "%.2fs, %.1f ms per 1,000 delivered", r.ServerCPUSeconds, r.CPUPer1000)
		}
		r.writeOtherCPU(row)
		if r.Stalled > 0 {
			r.writeStalled(row)
		}
	case ScenarioBurst:
		row("mail per device", "%d of %d bytes, filled with window %d", r.Messages, r.Size, r.Window)
		row("filled / drained", "%d / %d", r.Sent, r.Delivered)
		row("reconnected + authenticated", "%d in %.2fs (%.0f/s)", r.Connected, r.ConnectSeconds, r.ConnectPerSecond)
		row("drained", "in %.2fs from the storm's start (%.0f msgs/s)", r.DrainSeconds, r.DrainedPerSec)
		row("arrival after start p50 / p99 / max", "%.0f / %.0f / %.0f ms", r.Latency.P50, r.Latency.P99, r.Latency.Max)
		if r.ServerCPUSeconds > 0 {
			row("server CPU", "%.2fs, %.1f ms per 1,000 drained", r.ServerCPUSeconds, r.CPUPer1000)
		}
		r.writeOtherCPU(row)
	}
	if r.ClientCPUSeconds > 0 {
		row("bench workers' CPU", "%.2fs in the measured phase (on the same cores as the server)", r.ClientCPUSeconds)
	}
	row("errors (devices)", "%s", codes(r.Errors))
	if r.ServerErrors != nil {
		row("errors (server)", "%s", codes(r.ServerErrors))
	}
	for _, n := range r.Notes {
		row("note", "%s", n)
	}
	return tw.Flush()
}

func (r *Report) writeStalled(row func(k, format string, args ...any)) {
	row("stalled devices", "%d, each sent %d messages of %d bytes", r.Stalled, r.StalledMessages, r.StalledSize)
	if r.StalledReading {
		row("control run", "%s", "the stalled devices kept reading")
	}
	row("stalled: sent / drained after reconnecting", "%d / %d", r.StalledSent, r.StalledDelivered)
	row("stalled: connections ended (devices)", "%s", codes(r.StalledEnds))
	row("stalled: server slow-consumer cuts", "%.0f", r.ServerSlowConsumerCuts)
	if r.ServerRSSBefore > 0 {
		row("server RSS", "%s before, %s peak, %s end of sends, %s after the drain",
			mib(r.ServerRSSBefore), mib(r.ServerRSSPeak), mib(r.ServerRSSAfter), mib(r.ServerRSSFinal))
		row("server Go heap in use", "%s before, %s peak, %s end of sends, %s after the drain",
			mib(r.ServerHeapBefore), mib(r.ServerHeapPeak), mib(r.ServerHeapAfter), mib(r.ServerHeapFinal))
	}
	row("stalled: bound of queued mail", "%s (%d × min(min(%d, %d) × (%d + %d), %d) bytes) over the baseline",
		mib(r.StalledBoundBytes), r.Stalled, r.StalledMessages, proto.MaxEventBatch, r.StalledSize, envelopeOverhead, serverWindowBytes)
}

func (r *Report) writeOtherCPU(row func(k, format string, args ...any)) {
	for _, name := range slices.Sorted(maps.Keys(r.OtherCPUSeconds)) {
		row("CPU of "+name, "%.2fs; with the server %.1f ms per 1,000 delivered", r.OtherCPUSeconds[name], r.CPUPer1000WithOthers)
	}
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func codes(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// loadAverage is the host's 1-minute load average, 0 where unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscan(string(b), &l)
	return l
}
