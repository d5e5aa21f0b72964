package main

import (
	"github.com/prometheus/client_golang/prometheus"
)

// clusterStats are the counters of a node on Redis (-redis): its PubSub's
// and its presence store's, read at scrape time.
type clusterStats struct {
	Connected     bool   // the PubSub's subscription connection is up
	Published     uint64 // broadcasts handed to Redis
	PublishErrors uint64 // broadcasts Redis did not take (other nodes missed them)
	Received      uint64 // messages from Redis delivered on this node
	Dropped       uint64 // messages from Redis not delivered (undecodable, too large, or lost in a full buffer)
	Reconnects    uint64 // times the subscription connection was made again after a loss
	Topics        int    // topics this node is subscribed to on Redis
	StoreCalls    uint64 // presence store calls
	StoreErrors   uint64 // presence store calls that failed
}

// clusterCollector exports clusterStats as phxgo_redis_* metrics.
type clusterCollector struct {
	stats func() clusterStats

	connected, published, publishErrors, received, dropped *prometheus.Desc
	reconnects, topics, storeCalls, storeErrors            *prometheus.Desc
}

func newClusterCollector(stats func() clusterStats) *clusterCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("phxgo_redis_"+name, help, nil, nil)
	}
	return &clusterCollector{stats: stats,
		connected:     d("connected", "1 while the PubSub's connection to Redis is up, 0 during an outage (this node then serves its own clients only)."),
		published:     d("messages_published_total", "Broadcasts this node published to Redis for the other nodes."),
		publishErrors: d("publish_errors_total", "Broadcasts Redis did not take: the other nodes never got them (delivery across nodes is at most once)."),
		received:      d("messages_received_total", "Messages from Redis delivered to this node's subscribers."),
		dropped:       d("messages_dropped_total", "Messages from Redis this node could not deliver (undecodable, too large, or lost while its buffer was full)."),
		reconnects:    d("reconnects_total", "Times the PubSub connected to Redis again after losing it."),
		topics:        d("subscribed_topics", "Topics this node is subscribed to on Redis."),
		storeCalls:    d("presence_store_calls_total", "Calls to the presence store on Redis."),
		storeErrors:   d("presence_store_errors_total", "Presence store calls that failed (Redis unreachable or refusing); presence_diffs wait and heartbeats are retried."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	up := 0.0
	if st.Connected {
		up = 1
	}
	gauge(c.connected, up)
	gauge(c.topics, float64(st.Topics))
	counter(c.published, st.Published)
	counter(c.publishErrors, st.PublishErrors)
	counter(c.received, st.Received)
	counter(c.dropped, st.Dropped)
	counter(c.reconnects, st.Reconnects)
	counter(c.storeCalls, st.StoreCalls)
	counter(c.storeErrors, st.StoreErrors)
}
