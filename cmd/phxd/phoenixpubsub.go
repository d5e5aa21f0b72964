package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phxgo/phxgo/phx/phxredis"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// -phoenix-pubsub puts the node into a cluster of Elixir nodes running
// phoenix_pubsub_redis on the same Redis (see phxredis.Phoenix): the
// broadcasts of either side reach the clients of both. Presence stays on
// each side.

func definePhoenixFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.phoenixPubSub, "phoenix-pubsub", "", "the Elixir app's PubSub `name` (e.g. MyApp.PubSub): with -redis, broadcasts travel in phoenix_pubsub_redis's format on its channel (phx:Elixir.NAME.Adapter), so Elixir nodes and phxd nodes reach each other's clients; -node is this node's node_name there, unique among all nodes; every phxd on that Redis must use it too; presence stays among the phxd nodes")
}

func checkPhoenixFlags(o *options) error {
	if o.phoenixPubSub != "" && o.redisURL == "" {
		return errors.New("-phoenix-pubsub needs -redis URL (the Redis the Elixir nodes use)")
	}
	return nil
}

// speakPhoenix starts the Phoenix format around ps when -phoenix-pubsub
// is set (nil otherwise).
func speakPhoenix(o *options, ps *phxredis.PubSub, node string, log *slog.Logger) (*phxredis.Phoenix, error) {
	if o.phoenixPubSub == "" {
		return nil, nil
	}
	ph, err := phxredis.NewPhoenix(ps, phxredis.PhoenixOptions{PubSubName: o.phoenixPubSub, NodeName: node, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("-phoenix-pubsub: %w", err)
	}
	log.Info("speaking phoenix_pubsub_redis's format", "channel", ph.Channel(), "node_name", ph.NodeName())
	return ph, nil
}

// phxPubSub is the PubSub phx gets: the Phoenix format when it is on.
func (c *cluster) phxPubSub() pubsub.PubSub {
	if c.phoenix != nil {
		return c.phoenix
	}
	return c.pubsub
}

// closePubSub closes the Phoenix format, if on (it publishes what it has
// queued, then closes the PubSub), or the PubSub.
func (c *cluster) closePubSub() error {
	if c.phoenix != nil {
		return c.phoenix.Close()
	}
	return c.pubsub.Close()
}

// phoenixMetrics are the phxgo_phoenix_*_total counters, read from a
// Phoenix's stats.
var phoenixMetrics = []struct {
	name, help string
	value      func(phxredis.PhoenixStats) uint64
}{
	{"published", "Broadcasts this node published on the Phoenix channel.",
		func(s phxredis.PhoenixStats) uint64 { return s.Published }},
	{"publish_errors", "Broadcasts for the Phoenix channel Redis did not take, or that were never queued (Redis unreachable, no Elixir term, too large, queue full).",
		func(s phxredis.PhoenixStats) uint64 { return s.PublishErrors + s.PublishDropped }},
	{"received", "Broadcasts from the Phoenix channel delivered to this node's subscribers.",
		func(s phxredis.PhoenixStats) uint64 { return s.Received }},
	{"ignored", "Messages of the Phoenix channel ignored as an Elixir node ignores them: this node's own, :only for another node.",
		func(s phxredis.PhoenixStats) uint64 { return s.Echoes + s.NotForUs }},
	{"unwatched", "Broadcasts of the Phoenix channel on topics without a subscriber on this node (not decoded further).",
		func(s phxredis.PhoenixStats) uint64 { return s.Unwatched }},
	{"skipped", "Messages of the Phoenix channel phxgo takes no part in: Phoenix.Tracker (presence) traffic, other dispatchers, presence_diff.",
		func(s phxredis.PhoenixStats) uint64 { return s.Skipped }},
	{"dropped", "Messages of the Phoenix channel dropped: malformed, too large, or a payload with no JSON form.",
		func(s phxredis.PhoenixStats) uint64 { return s.Dropped }},
	{"unencodable", "Among the dropped: broadcasts whose payload Jason could not encode either (tuples, pids, invalid UTF-8 ...).",
		func(s phxredis.PhoenixStats) uint64 { return s.Unencodable }},
}

// phoenixCollector exports a Phoenix's counters.
type phoenixCollector struct {
	stats func() phxredis.PhoenixStats
	descs []*prometheus.Desc // as phoenixMetrics
}

func newPhoenixCollector(cl *cluster) []prometheus.Collector {
	if cl == nil || cl.phoenix == nil {
		return nil
	}
	return []prometheus.Collector{phoenixCollectorOf(cl.phoenix.Stats)}
}

func phoenixCollectorOf(stats func() phxredis.PhoenixStats) *phoenixCollector {
	c := &phoenixCollector{stats: stats}
	for _, m := range phoenixMetrics {
		c.descs = append(c.descs, prometheus.NewDesc("phxgo_phoenix_"+m.name+"_total", m.help, nil, nil))
	}
	return c
}

func (c *phoenixCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *phoenixCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	for i, m := range phoenixMetrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], prometheus.CounterValue, float64(m.value(st)))
	}
}
