package bench_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/bench"
	"github.com/parleyhq/parley/parleytest"
	"github.com/parleyhq/parley/server"
)

// workerEnv makes the test binary a bench worker, so the tests also
// cover the real re-exec path of `parley bench worker`.
const workerEnv = "PARLEY_BENCH_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := bench.ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runBench runs a scenario against srv with a bounded context.
func runBench(t *testing.T, srv *parleytest.Server, o bench.Options) *bench.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o.Server = srv.URL
	o.MetricsURL = srv.AdminURL + "/metrics"
	rep, err := bench.Run(ctx, o)
	if err != nil {
		t.Fatalf("bench.Run: %v", err)
	}
	var b strings.Builder
	rep.WriteTable(&b)
	t.Logf("report:\n%s", b.String())
	return rep
}

func TestIdle(t *testing.T) {
	srv := parleytest.NewServer(t)
	const n = 50
	rep := runBench(t, srv, bench.Options{Scenario: bench.ScenarioIdle, Devices: n, Procs: 2, Hold: 50 * time.Millisecond})
	if rep.Registered != n || rep.Connected != n {
		t.Errorf("registered %d, connected %d; want %d each", rep.Registered, rep.Connected, n)
	}
	if len(rep.Errors) != 0 || len(rep.ServerErrors) != 0 {
		t.Errorf("errors: devices %v, server %v", rep.Errors, rep.ServerErrors)
	}
	// The server saw every connection authenticated at once.
	if rep.ServerAuthenticated != n {
		t.Errorf("server reports %v authenticated connections, want %d", rep.ServerAuthenticated, n)
	}
	if rep.ConnectPerSecond <= 0 || rep.RegisterPerSecond <= 0 || rep.ServerRSSBefore <= 0 || rep.ServerRSSAfter <= 0 {
		t.Errorf("missing figures: connect %v/s, register %v/s, rss %v → %v",
			rep.ConnectPerSecond, rep.RegisterPerSecond, rep.ServerRSSBefore, rep.ServerRSSAfter)
	}
	// The server was read at the half mark: 12 of each worker's 25.
	if rep.ConnectedHalf != 24 || rep.ServerRSSHalf <= 0 || rep.ServerHeapHalf <= 0 {
		t.Errorf("half mark: %d connected, RSS %v, heap %v; want 24 and figures", rep.ConnectedHalf, rep.ServerRSSHalf, rep.ServerHeapHalf)
	}
}

// checkRing checks a ring report's counts against each other.
func checkRing(t *testing.T, rep *bench.Report, devices int) {
	t.Helper()
	if rep.Registered != int64(devices) || rep.Created != int64(devices) {
		t.Errorf("registered %d, created %d; want %d each", rep.Registered, rep.Created, devices)
	}
	if len(rep.Errors) != 0 || len(rep.ServerErrors) != 0 {
		t.Fatalf("errors: devices %v, server %v", rep.Errors, rep.ServerErrors)
	}
	if rep.Sent == 0 || rep.Sent != rep.Attempted || rep.Delivered != rep.Sent {
		t.Errorf("attempted %d, acknowledged %d, delivered %d: want all equal and above 0", rep.Attempted, rep.Sent, rep.Delivered)
	}
	l := rep.Latency
	if l.Count != uint64(rep.Delivered) || l.P50 <= 0 || l.P99 < l.P50 || l.Max < l.P99 || l.Mean <= 0 {
		t.Errorf("latency %+v inconsistent with %d delivered", l, rep.Delivered)
	}
	if rep.DeliveredPerSecond <= 0 || rep.ServerCPUSeconds <= 0 || rep.CPUPer1000 <= 0 {
		t.Errorf("missing figures: %v delivered/s, %v s server CPU, %v ms per 1,000", rep.DeliveredPerSecond, rep.ServerCPUSeconds, rep.CPUPer1000)
	}
}

func TestRing(t *testing.T) {
	srv := parleytest.NewServer(t)
	const n, rate = 10, 200
	rep := runBench(t, srv, bench.Options{Scenario: bench.ScenarioRing, Devices: n, Procs: 2,
		Rate: rate, Duration: time.Second, Size: 256})
	checkRing(t, rep, n)
	// The schedule is exact: every device sends rate/n per second.
	if rep.Attempted < rate*9/10 || rep.Attempted > rate {
		t.Errorf("attempted %d sends at %d/s for 1s", rep.Attempted, rate)
	}
}

func TestRingMaxInWorkerProcesses(t *testing.T) {
	// As fast as the server answers, a few devices exceed the default
	// per-device request rate (a person's); this test is about the
	// worker processes, not the rate limit.
	srv := parleytest.NewServer(t, parleytest.WithConfig(func(c *server.Config) { c.RatePerSecond, c.RateBurst = 1e6, 1e6 }))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	rep := runBench(t, srv, bench.Options{Scenario: bench.ScenarioRing, Devices: n, Procs: 2,
		Max: true, Window: 2, Duration: 500 * time.Millisecond, Size: bench.MinSize,
		Launcher: bench.Exec{Path: exe, Env: []string{workerEnv + "=1"}}})
	checkRing(t, rep, n)
}

func TestRingMLS(t *testing.T) {
	srv := parleytest.NewServer(t)
	const n = 3
	rep := runBench(t, srv, bench.Options{Scenario: bench.ScenarioRing, Devices: n, Procs: 1, MLS: true,
		Rate: 15, Duration: time.Second, Size: 100})
	checkRing(t, rep, n)
}

func TestOptionsRefused(t *testing.T) {
	ring := bench.Options{Scenario: bench.ScenarioRing, Server: "http://127.0.0.1:1", Devices: 10, Rate: 10, Duration: time.Second, Size: 100}
	for _, tc := range []struct {
		name string
		edit func(*bench.Options)
		want string
	}{
		{"remote server", func(o *bench.Options) { o.Server = "http://192.0.2.1:8080" }, "not a loopback address"},
		{"remote metrics", func(o *bench.Options) { o.MetricsURL = "http://192.0.2.1:8081/metrics" }, "not a loopback address"},
		{"one device ring", func(o *bench.Options) { o.Devices = 1 }, "at least 2 devices"},
		{"no rate", func(o *bench.Options) { o.Rate = 0 }, "--rate"},
		{"tiny payload", func(o *bench.Options) { o.Size = 4 }, "--size"},
		{"huge MLS text", func(o *bench.Options) { o.MLS, o.Size = true, 20000 }, "--size"},
		{"too many per process", func(o *bench.Options) { o.Scenario, o.Devices, o.Procs = bench.ScenarioIdle, 40000, 1 }, "raise --procs to at least 3"},
		{"idle with mls", func(o *bench.Options) { o.Scenario, o.MLS = bench.ScenarioIdle, true }, "--mls"},
		{"unbounded", func(o *bench.Options) { o.Duration = 0 }, "--duration"},
		{"stalled with mls", func(o *bench.Options) { o.MLS, o.Stalled = true, 5 }, "--stalled applies to ring with MLS off"},
		{"huge stalled mail", func(o *bench.Options) { o.Stalled, o.StalledSize = 5, 1<<20 }, "--stalled-size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ring
			tc.edit(&o)
			_, err := bench.Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	// A remote target is allowed only when asked for (it then fails to
	// connect to this unroutable test address, quickly).
	o := ring
	o.Server, o.AllowRemote, o.Timeout = "http://192.0.2.1:8080", true, 2*time.Second
	if _, err := bench.Run(context.Background(), o); err == nil || strings.Contains(err.Error(), "loopback") {
		t.Fatalf("with --allow-remote: err = %v, want a connection failure", err)
	}
}

func TestBurst(t *testing.T) {
	srv := parleytest.NewServer(t)
	const n, k = 10, 20
	rep := runBench(t, srv, bench.Options{Scenario: bench.ScenarioBurst, Devices: n, Procs: 2,
		Messages: k, Window: 4, Size: 100, DialConcurrency: n})
	if rep.Registered != n || rep.Connected != n || rep.Created != n {
		t.Errorf("registered %d, reconnected %d, created %d; want %d each", rep.Registered, rep.Connected, rep.Created, n)
	}
	if len(rep.Errors) != 0 || len(rep.ServerErrors) != 0 {
		t.Fatalf("errors: devices %v, server %v", rep.Errors, rep.ServerErrors)
	}
	// Every filled message waited for the storm and was drained after it.
	if rep.Sent != n*k || rep.Delivered != n*k || rep.Latency.Count != n*k {
		t.Errorf("filled %d, drained %d (%d timed); want %d", rep.Sent, rep.Delivered, rep.Latency.Count, n*k)
	}
	if rep.DrainSeconds <= 0 || rep.ConnectPerSecond <= 0 || rep.Latency.Max > rep.DrainSeconds*1000+1 {
		t.Errorf("drain %vs, reconnect %v/s, last arrival %v ms", rep.DrainSeconds, rep.ConnectPerSecond, rep.Latency.Max)
	}
}

func TestRingRefusedRegistration(t *testing.T) {
	srv := parleytest.NewServer(t, parleytest.WithRegistration("closed"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := bench.Run(ctx, bench.Options{Scenario: bench.ScenarioRing, Server: srv.URL, Devices: 4, Procs: 2,
		Rate: 10, Duration: time.Second, Size: 100})
	if err == nil || !strings.Contains(err.Error(), "register failed") || !strings.Contains(err.Error(), "REGISTRATION_CLOSED") {
		t.Fatalf("err = %v, want the run stopped at registration with the code", err)
	}
}

func TestRingStalled(t *testing.T) {
	// A short write timeout, so stalled devices are cut within the run.
	srv := parleytest.NewServer(t, parleytest.WithConfig(func(c *server.Config) { c.WriteTimeout = time.Second }))
	// The default mail (6 × 32 KiB) is what stalls a device behind the
	// server's default send buffer.
	const n, stalled, msgs = 10, 20, bench.DefaultStalledMessages
	rep := runBench(t, srv, bench.Options{Scenario: bench.ScenarioRing, Devices: n, Procs: 2,
		Rate: 100, Duration: 3 * time.Second, Size: 256, Stalled: stalled, StalledMessages: msgs})
	if rep.Registered != n || rep.Created != n {
		t.Errorf("registered %d, created %d; want %d each", rep.Registered, rep.Created, n)
	}
	// The ring itself is undisturbed: everything sent arrived, no errors.
	if len(rep.Errors) != 0 {
		t.Errorf("device errors %v, want none", rep.Errors)
	}
	if rep.Sent == 0 || rep.Delivered != rep.Sent || rep.Latency.Count != uint64(rep.Delivered) {
		t.Errorf("ring: acknowledged %d, delivered %d", rep.Sent, rep.Delivered)
	}
	// The last 40 % of the send phase is timed on its own too.
	if l := rep.LateLatency; l.Count == 0 || l.Count >= rep.Latency.Count || l.Max > rep.Latency.Max {
		t.Errorf("late latency %+v against all %+v", l, rep.Latency)
	}
	// Every stalled device was cut as a slow consumer, by the server's
	// count, and saw its connection end.
	if rep.ServerSlowConsumerCuts != stalled {
		t.Errorf("server slow-consumer cuts %v, want %d", rep.ServerSlowConsumerCuts, stalled)
	}
	if got := rep.ServerErrors; len(got) != 1 || got["SLOW_CONSUMER"] != stalled {
		t.Errorf("server errors %v, want SLOW_CONSUMER %d only", got, stalled)
	}
	var ended int64
	for how, k := range rep.StalledEnds {
		if how == "STILL_OPEN" {
			t.Errorf("%d stalled connections still open after the server should have cut them", k)
		}
		ended += k
	}
	if ended != stalled {
		t.Errorf("stalled connection ends %v: want %d in all", rep.StalledEnds, stalled)
	}
	// Their mail waited in the mailbox: all of it arrived after
	// reconnecting, each message once.
	if rep.StalledSent != stalled*msgs || rep.StalledDelivered != rep.StalledSent {
		t.Errorf("stalled devices: sent %d, drained %d; want %d each", rep.StalledSent, rep.StalledDelivered, stalled*msgs)
	}
	if rep.ServerRSSBefore <= 0 || rep.ServerRSSPeak <= 0 || rep.ServerRSSFinal <= 0 || rep.StalledBoundBytes <= 0 {
		t.Errorf("missing memory figures: before %v, peak %v, final %v, bound %v",
			rep.ServerRSSBefore, rep.ServerRSSPeak, rep.ServerRSSFinal, rep.StalledBoundBytes)
	}
}

func TestRingStalledControl(t *testing.T) {
	// The same devices and mail, but they keep reading: nobody is cut and
	// the mail arrives while they are connected.
	srv := parleytest.NewServer(t, parleytest.WithConfig(func(c *server.Config) { c.WriteTimeout = time.Second }))
	const n, stalled, msgs = 4, 4, 4
	rep := runBench(t, srv, bench.Options{Scenario: bench.ScenarioRing, Devices: n, Procs: 1,
		Rate: 40, Duration: 2 * time.Second, Size: 256, Stalled: stalled, StalledMessages: msgs, StalledReading: true})
	if len(rep.Errors) != 0 || len(rep.ServerErrors) != 0 || rep.ServerSlowConsumerCuts != 0 {
		t.Errorf("errors: devices %v, server %v, cuts %v; want none", rep.Errors, rep.ServerErrors, rep.ServerSlowConsumerCuts)
	}
	if rep.StalledSent != stalled*msgs || rep.StalledDelivered != rep.StalledSent || rep.StalledEnds["STILL_OPEN"] != stalled {
		t.Errorf("sent %d, delivered %d, ends %v; want %d, all delivered, all still open", rep.StalledSent, rep.StalledDelivered, rep.StalledEnds, stalled*msgs)
	}
}
