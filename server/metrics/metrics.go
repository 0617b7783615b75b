// Package metrics defines the server's Prometheus metrics on a registry of
// its own, so several servers in one test process do not collide and the
// admin listener exposes exactly Parley's figures (plus the Go runtime's).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parleyhq/parley/proto"
)

// Metrics is the set of collectors the server's packages update. A nil
// *Metrics is not allowed; use New.
type Metrics struct {
	Registry *prometheus.Registry

	// Connections is the number of open WebSocket connections, and
	// Authenticated the number of those past the handshake.
	Connections   prometheus.Gauge
	Authenticated prometheus.Gauge
	// HandshakeFailures counts failed Authenticate/Register/LinkBegin and
	// handshake timeouts, by code.
	HandshakeFailures *prometheus.CounterVec
	// Errors counts every non-OK response and every close, by code.
	Errors *prometheus.CounterVec
	// SlowConsumerCuts counts connections cut because they did not read.
	SlowConsumerCuts prometheus.Counter

	// MessagesIn counts accepted messages by kind: application, ephemeral,
	// commit.
	MessagesIn *prometheus.CounterVec
	// MessagesOut counts envelopes pushed to devices: mailbox, ephemeral.
	MessagesOut *prometheus.CounterVec
	// MailboxWritten and MailboxExpired count mailbox entries written and
	// deleted by expiry.
	MailboxWritten prometheus.Counter
	MailboxExpired prometheus.Counter
	// MailboxDepthAtAuth is each device's mailbox depth when it
	// authenticates: the backlog devices come back to.
	MailboxDepthAtAuth prometheus.Histogram
	// MailboxInFlight is the number of pushed but unacknowledged entries
	// across connections.
	MailboxInFlight prometheus.Gauge
	// BatchSize and BatchSeconds describe the delivery batcher's group
	// commits.
	BatchSize    prometheus.Histogram
	BatchSeconds prometheus.Histogram
}

// New registers every collector on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	m := &Metrics{
		Registry: r,
		Connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_connections", Help: "Open WebSocket connections."}),
		Authenticated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_connections_authenticated", Help: "Connections past the handshake."}),
		HandshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_handshake_failures_total", Help: "Failed handshakes by code."}, []string{"code"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_errors_total", Help: "Non-OK responses and connection closes by code."}, []string{"code"}),
		SlowConsumerCuts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_slow_consumer_cuts_total", Help: "Connections cut because the device did not read."}),
		MessagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_messages_in_total", Help: "Accepted messages by kind."}, []string{"kind"}),
		MessagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_messages_out_total", Help: "Envelopes pushed to devices by kind."}, []string{"kind"}),
		MailboxWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_mailbox_written_total", Help: "Mailbox entries written."}),
		MailboxExpired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_mailbox_expired_total", Help: "Mailbox entries deleted unacknowledged after the TTL."}),
		MailboxDepthAtAuth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_mailbox_depth_at_auth", Help: "Mailbox depth of a device when it authenticates.",
			Buckets: []float64{0, 1, 10, 100, 1000, 10000, 100000}}),
		MailboxInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "parley_mailbox_in_flight", Help: "Pushed but unacknowledged mailbox entries."}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_delivery_batch_size", Help: "Submissions per group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		BatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "parley_delivery_batch_seconds", Help: "Time to write one group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	for _, c := range []prometheus.Collector{m.Connections, m.Authenticated, m.HandshakeFailures, m.Errors,
		m.SlowConsumerCuts, m.MessagesIn, m.MessagesOut, m.MailboxWritten, m.MailboxExpired,
		m.MailboxDepthAtAuth, m.MailboxInFlight, m.BatchSize, m.BatchSeconds} {
		f(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Error counts one non-OK outcome.
func (m *Metrics) Error(c proto.Code) { m.Errors.WithLabelValues(c.String()).Inc() }
