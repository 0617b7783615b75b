package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/parleyhq/parley/proto"
)

// The channel worker runs, per connection, the channel jobs the server's
// events ask for: a sync when a followed channel moved (ChannelUpdated
// with a sequence), a check of the admin conversation when the team
// changed (ChannelUpdated{admin}). On every connection it first queues a
// sync of every channel the device keeps, so what was posted while it was
// offline arrives without anybody asking, and a team check of every
// channel it helps run. Jobs for one channel coalesce: ten events while a
// sync runs cost one more sync.

// channelWork is the worker's queue. The zero value is ready.
type channelWork struct {
	mu   sync.Mutex
	sync map[string]bool
	team map[string]bool
	wake chan struct{}
}

func (w *channelWork) wakeCh() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
	return w.wake
}

// add queues a sync (team false) or a team check of the channel.
func (w *channelWork) add(id string, team bool) {
	wake := w.wakeCh()
	w.mu.Lock()
	m := &w.sync
	if team {
		m = &w.team
	}
	if *m == nil {
		*m = map[string]bool{}
	}
	(*m)[id] = true
	w.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// take empties the queue.
func (w *channelWork) take() (syncs, teams []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.team {
		teams = append(teams, id)
	}
	for id := range w.sync {
		syncs = append(syncs, id)
	}
	w.sync, w.team = nil, nil
	return syncs, teams
}

// channelWorker runs queued channel jobs until ctx (the connection's)
// ends. Syncs run at once; team checks wait until the team has been
// quiet for teamSettle (see there).
func (c *Client) channelWorker(ctx context.Context) {
	if recs, err := c.prof.Channels(ctx); err != nil {
		c.log.Warn("listing channels", "err", err)
	} else {
		for _, r := range recs {
			c.channelWork.add(r.ChannelID, false)
			if isTeam(r.Role) {
				c.channelWork.add(r.ChannelID, true)
			}
		}
	}
	wake := c.channelWork.wakeCh()
	poll := c.clk.NewTicker(channelPoll)
	defer poll.Stop()
	settle := c.clk.NewTimer(teamSettleMax)
	settle.Stop()
	defer settle.Stop()
	var settling <-chan time.Time // settle's channel while team checks wait
	var firstWait time.Time       // when the oldest waiting check was asked for
	waiting := map[string]bool{}  // channels whose team check waits
	for {
		var teams []string
		select {
		case <-wake:
		case <-settling:
			settling = nil
			for id := range waiting {
				teams = append(teams, id)
			}
			clear(waiting)
		case <-poll.C():
			c.pollChannels(ctx)
			continue
		case <-ctx.Done():
			return
		}
		syncs, asked := c.channelWork.take()
		if len(asked) > 0 {
			if len(waiting) == 0 {
				firstWait = c.clk.Now()
			}
			for _, id := range asked {
				waiting[id] = true
			}
			settle.Reset(min(teamSettle, max(teamSettleMax-c.clk.Now().Sub(firstWait), 0)))
			settling = settle.C()
		}
		var again []func()
		run := func(what, id string, job func(context.Context) error, requeue func()) {
			jctx, jcancel := context.WithTimeout(ctx, callTimeout)
			defer jcancel()
			err := job(jctx)
			if err == nil || ctx.Err() != nil {
				return
			}
			var pe *proto.Error
			if errors.As(err, &pe) && pe.Code.Retryable() {
				again = append(again, requeue)
			}
			c.log.Warn(what, "channel", id, "err", err)
		}
		for _, id := range teams {
			run("checking a channel's admin conversation", id, func(jctx context.Context) error {
				return c.syncAdminGroup(jctx, id)
			}, func() { c.channelWork.add(id, true) })
		}
		for _, id := range syncs {
			if _, err := c.prof.Channel(ctx, id); err != nil {
				continue // not kept on this device (yet)
			}
			run("syncing a channel", id, func(jctx context.Context) error {
				_, err := c.SyncChannel(jctx, id)
				return err
			}, func() { c.channelWork.add(id, false) })
		}
		if len(again) > 0 {
			// Rate limited or the server was busy: try again later.
			t := c.clk.NewTimer(channelRetry)
			select {
			case <-t.C():
			case <-ctx.Done():
				t.Stop()
				return
			}
			for _, f := range again {
				f()
			}
		}
	}
}

// teamSettle is how long the worker lets a channel's team be quiet
// before checking its conversation: admins joining one after another
// (each accept is a ChannelUpdated{admin}) then cost one check and one
// commit adding them all, instead of a check of up to six requests each,
// which ran a burst of sixteen into the server's rate limit.
// teamSettleMax bounds the wait under a steady stream of changes.
const (
	teamSettle    = 200 * time.Millisecond
	teamSettleMax = 2 * time.Second
)

// channelPoll is how often a connected device compares its channels'
// cursors with their head sequences (one request), in case a "new post"
// event was lost: events are at-most-once, sync is the source of truth.
const channelPoll = 5 * time.Minute

// pollChannels queues a sync of every kept channel whose head sequence
// is past this device's cursor.
func (c *Client) pollChannels(ctx context.Context) {
	pctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.call(pctx, &proto.Request{Body: &proto.Request_ChannelList{ChannelList: &proto.ChannelList{}}})
	if err != nil {
		c.log.Debug("polling channels", "err", err)
		return
	}
	for _, ch := range resp.GetChannelList().GetChannels() {
		if rec, err := c.prof.Channel(pctx, ch.ChannelId); err == nil && ch.HeadSeq > rec.Cursor {
			c.channelWork.add(ch.ChannelId, false)
		}
	}
}

// channelRetry is how long the worker waits before repeating jobs that
// failed for a passing reason (RATE_LIMITED, UNAVAILABLE).
const channelRetry = 2 * time.Second
