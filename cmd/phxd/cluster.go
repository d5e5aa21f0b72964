package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/phxgo/phx/phxredis"
)

// cluster is what -redis adds to a node: a PubSub and a presence store on
// the Redis every node shares, and the client under both.
type cluster struct {
	node   string
	client redis.UniversalClient
	pubsub *phxredis.PubSub
	store  *phxredis.PresenceStore
	start  *startStore // the store as presence.Config gets it
	resync func()      // pushes presence_state to the room members again (set by newServer)
	stop   chan struct{}
	done   chan struct{}
}

// watch starts the outage watcher (resync.go), checking every heartbeat.
func (c *cluster) watch(interval time.Duration) {
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		watchOutages(func() bool { return c.pubsub.Stats().Connected }, interval, c.resync, c.stop)
	}()
}

// openCluster connects a node to Redis. Redis need not answer yet: a node
// started during an outage serves its own clients and joins the others
// when Redis is back, as a running node does after an outage; it logs
// the outage. An error means a URL or option Redis can never accept.
func openCluster(o *options, log *slog.Logger) (*cluster, error) {
	node := o.node
	if node == "" {
		node = defaultNode()
	}
	client, err := phxredis.NewClient(o.redisURL, o.redisCluster)
	if err != nil {
		return nil, fmt.Errorf("-redis: %w", err)
	}
	redis.SetLogger(redisLog{log})
	c := &cluster{node: node, client: client}
	c.pubsub, err = phxredis.NewPubSub(client, phxredis.PubSubOptions{Node: node, Logger: log})
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redis pubsub: %w", err)
	}
	c.store, err = phxredis.NewPresenceStore(client, phxredis.StoreOptions{Logger: log})
	if err != nil {
		_ = c.pubsub.Close()
		_ = client.Close()
		return nil, fmt.Errorf("redis presence store: %w", err)
	}
	c.start = &startStore{Store: c.store, node: node, log: log}
	if !c.pubsub.Stats().Connected { // NewPubSub tried Redis once
		log.Warn("Redis unreachable at start: serving this node's clients only until it answers",
			"redis", redactURL(o.redisURL))
	}
	log.Info("clustering on Redis", "node", node, "redis", redactURL(o.redisURL), "redis_cluster", o.redisCluster)
	return c, nil
}

// unwatch stops the outage watcher, if it runs; calling it again does
// nothing.
func (c *cluster) unwatch() {
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop = nil
	}
}

// stats reads the counters /metrics exports.
func (c *cluster) stats() clusterStats {
	ps, st := c.pubsub.Stats(), c.store.Stats()
	return clusterStats{
		Connected:     ps.Connected,
		Published:     ps.Published,
		PublishErrors: ps.PublishErrors + ps.PublishDropped,
		Received:      ps.Received,
		Dropped:       ps.Dropped,
		Reconnects:    ps.Reconnects,
		Topics:        ps.Topics,
		StoreCalls:    st.Calls,
		StoreErrors:   st.Errors,
	}
}

// close runs after the server has drained and Presence has closed (its
// last leaves go out through the PubSub): the PubSub, then the client.
func (c *cluster) close() error {
	c.unwatch()
	return errors.Join(c.pubsub.Close(), c.client.Close())
}

// redisLog takes go-redis's own log lines (a failed dial at every retry
// during an outage) into phxd's log at debug level: the PubSub already
// reports an outage and its end at warn and info.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
