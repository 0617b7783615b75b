package bench

import (
	"fmt"
	"io"
	"time"
)

// progressLineEvery is how often a progress line is printed when the
// output is not a terminal (a terminal gets one line rewritten in place).
const progressLineEvery = 5 * time.Second

// progress shows the run's state on one line.
type progress struct {
	w       io.Writer
	tty     bool
	name    string
	started time.Time
	last    time.Time
	shown   bool
}

func newProgress(w io.Writer, tty bool) *progress { return &progress{w: w, tty: tty} }

func (p *progress) phase(name string) {
	p.name, p.started, p.last = name, time.Now(), time.Time{}
}

func (p *progress) show(c Counters, workers int) {
	if p.w == nil || !p.tty && time.Since(p.last) < progressLineEvery {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("%-8s %5.1fs  workers %d  registered %d  connected %d", p.name,
		time.Since(p.started).Seconds(), workers, c.Registered, c.Connected)
	if c.Created > 0 || c.Attempted > 0 {
		line += fmt.Sprintf("  created %d  sent %d  delivered %d", c.Created, c.Sent, c.Delivered)
	}
	line += fmt.Sprintf("  errors %d", c.Failed)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.shown = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// finish ends a line rewritten in place.
func (p *progress) finish() {
	if p.w != nil && p.tty && p.shown {
		fmt.Fprintln(p.w)
	}
}
