package server

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleyhq/parley/bus"
	"github.com/parleyhq/parley/bus/local"
	natsbus "github.com/parleyhq/parley/bus/nats"
)

// presenceTimeout bounds asking the other nodes whether an account's
// devices are connected there.
const presenceTimeout = 2 * time.Second

// openBus uses the configured bus, else NATS when a URL is set, else the
// in-process bus. Presence asks the bus about other nodes only when the
// bus reaches other nodes.
func (s *Server) openBus() error {
	switch {
	case s.cfg.Bus != nil:
		s.bus = s.cfg.Bus
	case s.cfg.NATSURL != "":
		b, err := natsbus.New(natsbus.Options{
			URL: s.cfg.NATSURL, Prefix: s.cfg.NATSPrefix, Name: "parley " + s.cfg.Addr,
			Logger: s.log.With("pkg", "bus"),
		})
		if err != nil {
			return fmt.Errorf("server: cluster bus: %w", err)
		}
		s.bus, s.ownsBus = b, true
		s.metrics.Registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "parley_bus_connected",
				Help: "1 while this node is connected to NATS; at 0 devices on other nodes are unreachable from here.",
			}, func() float64 {
				if b.Connected() {
					return 1
				}
				return 0
			}),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "parley_bus_dropped_total",
				Help: "Bus messages from other nodes dropped because this node fell behind (wake-ups: latency, not mail).",
			}, func() float64 { return float64(b.Dropped()) }),
		)
	default:
		s.bus, s.ownsBus = local.New(), true
	}
	if _, isLocal := s.bus.(*local.Bus); !isLocal {
		s.prober, _ = s.bus.(bus.Prober)
	}
	return nil
}

// online reports whether any device of the account is connected, to this
// node or (through the bus) to any other. When the other nodes cannot be
// asked (NATS down), only this node's connections count.
func (s *Server) online(accountID string) bool {
	if s.gw.Online(accountID) {
		return true
	}
	if s.prober == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
	defer cancel()
	devices, err := s.st.Devices(ctx, accountID)
	if err != nil {
		s.log.Warn("presence: devices not read; answering from this node only", "account", accountID, "err", err)
		return false
	}
	for _, d := range devices {
		on, err := s.prober.Subscribed(ctx, d.ID)
		if err != nil {
			s.log.Debug("presence: other nodes not asked", "err", err)
			return false
		}
		if on {
			return true
		}
	}
	return false
}
