package client

import (
	"context"
	"sync"
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
// ends.
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
	for {
		select {
		case <-wake:
		case <-ctx.Done():
			return
		}
		syncs, teams := c.channelWork.take()
		for _, id := range teams {
			jctx, jcancel := context.WithTimeout(ctx, callTimeout)
			if err := c.syncAdminGroup(jctx, id); err != nil && ctx.Err() == nil {
				c.log.Warn("checking a channel's admin conversation", "channel", id, "err", err)
			}
			jcancel()
		}
		for _, id := range syncs {
			if _, err := c.prof.Channel(ctx, id); err != nil {
				continue // not kept on this device (yet)
			}
			jctx, jcancel := context.WithTimeout(ctx, callTimeout)
			if _, err := c.SyncChannel(jctx, id); err != nil && ctx.Err() == nil {
				c.log.Warn("syncing a channel", "channel", id, "err", err)
			}
			jcancel()
		}
	}
}
