package cluster

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/client"
	"github.com/parleyhq/parley/proto"
)

// Bounds of the fleet.
const (
	// setupTimeout bounds registering, linking and first messages.
	setupTimeout = 60 * time.Second
	// sendTimeout bounds one Send under load, reconnects included.
	sendTimeout = 20 * time.Second
	// clusterURL is the server URL every device is given; the fleet's
	// dialer decides which node a connection really goes to.
	clusterURL = "http://parley.cluster"
)

// fleet is a set of SDK devices talking to a set of nodes, and the ledger
// of what was acknowledged to them and what they showed.
type fleet struct {
	t     *testing.T
	addrs []string // the nodes' device addresses; a node keeps its address across restarts

	mu       sync.Mutex
	accounts map[string][]*device // handle → devices
	acked    map[string]sent      // message id (hex) → what was acknowledged
	failed   map[string]int       // why sends failed, by code
	codes    map[string]int       // responses to Send requests during a watch, by code
	watching bool
}

type sent struct {
	from *device
	to   string // handle
	at   time.Time
}

// device is one SDK client, pinned to a node: it connects there while the
// node is up, else to the next node that answers.
type device struct {
	f      *fleet
	handle string
	pin    int
	c      *client.Client

	mu     sync.Mutex
	shown  map[string]int // message id (hex) → MessageEvents
	typing map[string]int // handle → TypingEvents
	stop   chan struct{}
	done   chan struct{}
}

func newFleet(t *testing.T, nodes ...*node) *fleet {
	f := &fleet{t: t, accounts: map[string][]*device{}, acked: map[string]sent{}, failed: map[string]int{}, codes: map[string]int{}}
	for _, n := range nodes {
		f.addrs = append(f.addrs, n.Addr)
	}
	return f
}

// dialer connects to the pinned node, or the next one that accepts: what
// a load balancer does when a node is down.
func (f *fleet) httpClient(pin int) *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var err error
			for i := range f.addrs {
				c, e := d.DialContext(ctx, network, f.addrs[(pin+i)%len(f.addrs)])
				if e == nil {
					return c, nil
				}
				err = e
			}
			return nil, err
		},
	}}
}

func (f *fleet) options(name string, pin int) client.Options {
	t := f.t
	return client.Options{
		Profile: filepath.Join(t.TempDir(), strings.TrimPrefix(name, "@")), Server: clusterURL, DeviceName: name,
		Logger:     slog.New(slog.NewTextHandler(&testLog{t: t, prefix: name}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		BackoffMin: 50 * time.Millisecond, BackoffMax: time.Second,
		HTTPClient: f.httpClient(pin),
		Hooks: &client.Hooks{Response: func(req *proto.Request, resp *proto.Response) {
			if req.GetSend() == nil || req.GetSend().Ephemeral {
				return
			}
			code := "no response"
			if resp != nil {
				code = resp.Code.String()
			}
			f.mu.Lock()
			if f.watching {
				f.codes[code]++
			}
			f.mu.Unlock()
		}},
	}
}

// register creates an account whose primary device is pinned to node pin.
func (f *fleet) register(handle string, pin int) *device {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := client.Dial(ctx, f.options(handle, pin))
	if err != nil {
		t.Fatalf("dial %s: %v", handle, err)
	}
	d := f.adopt(handle, pin, c)
	if err := c.Register(ctx, handle); err != nil {
		t.Fatalf("register %s: %v", handle, err)
	}
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatalf("%s: %v", handle, err)
	}
	return d
}

// link adds a device to primary's account, pinned to node pin.
func (f *fleet) link(primary *device, pin int) *device {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	name := fmt.Sprintf("%s-%d", primary.handle, len(f.devicesOf(primary.handle)))
	c, err := client.Dial(ctx, f.options(name, pin))
	if err != nil {
		t.Fatalf("dial %s: %v", name, err)
	}
	d := f.adopt(primary.handle, pin, c)
	l, err := c.LinkBegin(ctx)
	if err != nil {
		t.Fatalf("link begin: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- l.Wait(ctx) }()
	if _, err := primary.c.LinkApprove(ctx, l.Code, l.DeviceID); err != nil {
		t.Fatalf("link approve: %v", err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("link wait: %v", err)
	}
	if err := c.WaitSynced(ctx); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

// adopt starts collecting a client's events and closes it at cleanup.
func (f *fleet) adopt(handle string, pin int, c *client.Client) *device {
	d := &device{f: f, handle: handle, pin: pin, c: c, shown: map[string]int{}, typing: map[string]int{},
		stop: make(chan struct{}), done: make(chan struct{})}
	f.mu.Lock()
	f.accounts[handle] = append(f.accounts[handle], d)
	f.mu.Unlock()
	go d.collect()
	f.t.Cleanup(func() {
		close(d.stop)
		<-d.done
		c.Close()
	})
	return d
}

func (d *device) collect() {
	defer close(d.done)
	for {
		select {
		case ev := <-d.c.Events():
			d.mu.Lock()
			switch e := ev.(type) {
			case client.MessageEvent:
				d.shown[hex.EncodeToString(e.Message.ID)]++
			case client.TypingEvent:
				if e.Typing {
					d.typing[e.From]++
				}
			}
			d.mu.Unlock()
		case <-d.stop:
			return
		}
	}
}

func (d *device) shownCount(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shown[id]
}

func (d *device) typingFrom(handle string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.typing[handle]
}

func (f *fleet) devicesOf(handle string) []*device {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*device(nil), f.accounts[handle]...)
}

// send sends one message and records it in the ledger if acknowledged.
func (f *fleet) send(from *device, to, text string) error {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	m, err := from.c.Send(ctx, to, text)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.failed[errorCode(err)]++
		return err
	}
	f.acked[hex.EncodeToString(m.ID)] = sent{from: from, to: to, at: time.Now()}
	return nil
}

// errorCode names why a send failed: the wire code when there is one.
func errorCode(err error) string {
	var pe *proto.Error
	switch {
	case errors.As(err, &pe):
		return pe.Code.String()
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "transport"
}

// recipients are the devices that must show a message: every device of
// both accounts but the sending one.
func (f *fleet) recipients(s sent) []*device {
	var out []*device
	for _, d := range append(f.devicesOf(s.from.handle), f.devicesOf(s.to)...) {
		if d != s.from {
			out = append(out, d)
		}
	}
	return out
}

// load sends messages around pairs of devices, each pair at a steady
// pace, until stopped.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
}

type route struct {
	from *device
	to   string
}

func (f *fleet) startLoad(routes []route, every time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	for i, r := range routes {
		l.wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				case <-tick.C:
				}
				f.send(r.from, r.to, fmt.Sprintf("load %d.%d", i, n))
			}
		})
	}
	return l
}

// end stops the load and waits for sends in flight.
func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// watchCodes starts counting the codes of Send responses; the returned
// function stops and returns the counts.
func (f *fleet) watchCodes() func() map[string]int {
	f.mu.Lock()
	f.watching, f.codes = true, map[string]int{}
	f.mu.Unlock()
	return func() map[string]int {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.watching = false
		return f.codes
	}
}

// verdict is the outcome of checking the ledger.
type verdict struct {
	acked, deliveries, lost, duplicates int
	failed                              map[string]int
}

func (v verdict) String() string {
	return fmt.Sprintf("%d messages acknowledged, %d deliveries checked, %d lost, %d shown twice; failed sends by cause %v",
		v.acked, v.deliveries, v.lost, v.duplicates, v.failed)
}

// verify waits until every acknowledged message has been shown on every
// recipient device, then checks that no device showed any message twice.
func (f *fleet) verify(wait time.Duration) verdict {
	t := f.t
	t.Helper()
	f.mu.Lock()
	acked := make(map[string]sent, len(f.acked))
	for id, s := range f.acked {
		acked[id] = s
	}
	failed := make(map[string]int, len(f.failed))
	for k, v := range f.failed {
		failed[k] = v
	}
	f.mu.Unlock()
	v := verdict{acked: len(acked), failed: failed}
	missing := func() []string {
		var out []string
		for id, s := range acked {
			for _, d := range f.recipients(s) {
				if d.shownCount(id) == 0 {
					out = append(out, fmt.Sprintf("%s (sent %s by %s to %s) not shown on %s's device pinned to node %d",
						id, s.at.Format("15:04:05.000"), s.from.handle, s.to, d.handle, d.pin))
				}
			}
		}
		sort.Strings(out)
		return out
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		m := missing()
		if len(m) == 0 {
			break
		}
		if time.Now().After(deadline) {
			v.lost = len(m)
			t.Errorf("%d acknowledged deliveries missing after %v, e.g.:\n%s", len(m), wait, strings.Join(m[:min(len(m), 10)], "\n"))
			break
		}
		<-tick.C
	}
	f.mu.Lock()
	var all []*device
	for _, ds := range f.accounts {
		all = append(all, ds...)
	}
	f.mu.Unlock()
	for _, d := range all {
		d.mu.Lock()
		for id, n := range d.shown {
			if n > 1 {
				v.duplicates++
				t.Errorf("%s's device pinned to node %d showed message %s %d times", d.handle, d.pin, id, n)
			}
		}
		d.mu.Unlock()
	}
	for _, s := range acked {
		v.deliveries += len(f.recipients(s))
	}
	return v
}

// testLog writes a client's log lines to the test log until the test
// ends.
type testLog struct {
	t      *testing.T
	prefix string
}

func (l *testLog) Write(p []byte) (int, error) {
	defer func() { recover() }() // t.Logf after the test ended panics
	l.t.Logf("%s: %s", l.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (f *fleet) ackedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.acked)
}

// progress waits until n more messages have been acknowledged.
func (f *fleet) progress(n int, within time.Duration) {
	f.t.Helper()
	want := f.ackedCount() + n
	waitUntil(f.t, within, fmt.Sprintf("%d more acknowledged sends", n), func() bool { return f.ackedCount() >= want })
}

// sentSince counts d's sends acknowledged after t0.
func (f *fleet) sentSince(d *device, t0 time.Time) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.acked {
		if s.from == d && s.at.After(t0) {
			n++
		}
	}
	return n
}

// failures copies the failed-send counts by cause.
func (f *fleet) failures() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.failed))
	for k, v := range f.failed {
		out[k] = v
	}
	return out
}
