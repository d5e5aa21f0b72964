package phxredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/phxgo/phx/pubsub"
)

// PubSubOptions configures a PubSub. As everywhere in phxgo, 0 means the
// default; what a negative value does is said per field.
type PubSubOptions struct {
	// Node names this node in the cluster; it must be unique among the
	// nodes (a node skips the messages carrying its own name). Default:
	// hostname-pid-random.
	Node string
	// Prefix starts every Redis channel name (default "phx"), so that
	// several apps can share one Redis.
	Prefix string
	// MaxMessageBytes bounds one message in Redis, envelope included
	// (default 8 MiB; negative means the default): a larger broadcast is
	// delivered locally only and Broadcast reports ErrTooLarge, and a
	// larger message read from Redis is dropped.
	MaxMessageBytes int
	// QueueLength bounds the messages waiting to be published (default
	// 16384; negative means the default); QueueBytes bounds their bytes
	// (default 64 MiB; negative means the default). A broadcast that
	// finds the queue full waits for room (QueueWait), then is delivered
	// locally only (ErrQueueFull).
	QueueLength int
	QueueBytes  int
	// QueueWait bounds how long Broadcast waits for room in a full queue
	// (default 1s; negative: never wait). The wait is backpressure on a
	// publisher faster than Redis; it never happens while Redis is down
	// (broadcasts are then delivered locally only, ErrUnavailable).
	QueueWait time.Duration
	// SubscribeWait bounds how long a Subscribe that adds a topic new to
	// this node waits for Redis to confirm the subscription (default 1s;
	// negative: never wait).
	SubscribeWait time.Duration
	// Buckets is the number of hash-tag buckets topics are spread over
	// with a Redis Cluster (default 32, at most 1024; negative means the
	// default); one sharded Pub/Sub connection serves each bucket in
	// use. Every node of a cluster must use the same value.
	Buckets int
	// Logger receives the outage and recovery lines (default
	// slog.Default()).
	Logger *slog.Logger
}

const (
	defaultMaxMessage    = 8 << 20
	defaultQueueLength   = 16384
	defaultQueueBytes    = 64 << 20
	defaultSubscribeWait = time.Second
	defaultQueueWait     = time.Second
	defaultBuckets       = 32
	maxBuckets           = 1024
	// maxBatch bounds the messages of one publish pipeline and
	// maxBatchBytes its bytes.
	maxBatch      = 512
	maxBatchBytes = 1 << 20
	// maxChannelsPerCommand bounds one (S)SUBSCRIBE or (S)UNSUBSCRIBE.
	maxChannelsPerCommand = 4096
)

// Errors Broadcast returns when a broadcast, delivered locally, could not
// be handed to the other nodes.
var (
	ErrTooLarge    = errors.New("phxredis: broadcast larger than MaxMessageBytes: delivered on this node only")
	ErrQueueFull   = errors.New("phxredis: publish queue full: broadcast delivered on this node only")
	ErrUnavailable = errors.New("phxredis: Redis unreachable: broadcast delivered on this node only")
	ErrClosed      = errors.New("phxredis: PubSub closed: broadcast delivered on this node only")
)

// PubSub is a pubsub.PubSub whose broadcasts reach every node connected
// to the same Redis (see the package doc).
type PubSub struct {
	client  redis.UniversalClient
	sharded bool // a Redis Cluster: SPUBLISH and SSUBSCRIBE per bucket
	mem     *pubsub.Memory
	node    string
	prefix  string // Prefix + ":"
	maxMsg  int
	maxQB   int64
	wait    time.Duration
	buckets int
	tags    []string // hash tag per bucket, with a Redis Cluster
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	queue      chan outMsg
	stopPub    chan struct{} // closed by Close: flush the queue and stop
	pubDone    chan struct{} // closed when the publisher has stopped
	queueBytes atomic.Int64
	queueWait  time.Duration
	roomMu     sync.Mutex    // a leaf lock, guards room
	room       chan struct{} // closed (and replaced) when a batch left the queue
	roomWaits  atomic.Int32  // broadcasts waiting on room

	health health

	// mu is the interest lock (see the package doc).
	mu      sync.Mutex
	topics  map[string]*topicState
	dirty   map[string]struct{}
	links   map[int]*link // by bucket; bucket 0 only for one server
	kick    chan struct{} // cap 1: the interest goroutine has work
	settled chan struct{} // cap 1: a link's awaited replies fell to 0
	inRedis atomic.Int64  // topics whose subscription was sent (written under mu)

	stats struct {
		published, publishErrors, publishDropped atomic.Uint64
		received, dropped, reconnects, commands  atomic.Uint64
	}
}

// outMsg is one envelope waiting in the publish queue.
type outMsg struct {
	channel string
	data    []byte
}

// topicState is a topic this node has subscribers of (or had, until the
// interest goroutine catches up).
type topicState struct {
	sent     bool          // its (S)SUBSCRIBE was sent
	ready    chan struct{} // made by the first waiter; closed once confirmed, or no longer worth waiting for
	released bool          // confirmed (or given up on): nobody waits any more
}

func (st *topicState) release() {
	if !st.released {
		st.released = true
		if st.ready != nil {
			close(st.ready)
			st.ready = nil // waiters hold their own reference
		}
	}
}

// PubSubStats is a snapshot of a PubSub's counters.
type PubSubStats struct {
	// Connected is false while Redis is unreachable (from the first
	// failure seen until every connection works again).
	Connected bool
	// Published counts messages Redis accepted; PublishErrors those
	// handed to the publisher that Redis did not take (failed pipeline);
	// PublishDropped the broadcasts never queued for Redis (ErrTooLarge,
	// ErrQueueFull, ErrUnavailable, ErrClosed).
	Published, PublishErrors, PublishDropped uint64
	// Queued is the number of messages waiting to be published now.
	Queued int
	// Received counts the messages of other nodes delivered here;
	// Dropped those rejected (malformed, oversized, unknown version,
	// topic not matching its channel, payload not a JSON object).
	Received, Dropped uint64
	// Reconnects counts Pub/Sub connections re-established after a
	// failure.
	Reconnects uint64
	// Topics is the number of channels this node is subscribed to in
	// Redis (one per topic with local subscribers); Commands counts the
	// (S)SUBSCRIBE and (S)UNSUBSCRIBE commands sent.
	Topics   int
	Commands uint64
}

// NewPubSub starts a PubSub on client (one server, or a cluster with
// sharded Pub/Sub when client is a *redis.ClusterClient). Redis need not
// be reachable yet: until it is, the node works on its own. Close stops it;
// the client stays open.
func NewPubSub(client redis.UniversalClient, o PubSubOptions) (*PubSub, error) {
	if client == nil {
		return nil, errors.New("phxredis: NewPubSub with a nil client")
	}
	if o.Node == "" {
		o.Node = defaultNode()
	}
	if o.Prefix == "" {
		o.Prefix = "phx"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("phxredis: Prefix %q contains a brace (reserved for cluster hash tags)", o.Prefix)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = defaultMaxMessage
	}
	if o.QueueLength <= 0 {
		o.QueueLength = defaultQueueLength
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = defaultQueueBytes
	}
	switch {
	case o.QueueWait == 0:
		o.QueueWait = defaultQueueWait
	case o.QueueWait < 0:
		o.QueueWait = 0
	}
	switch {
	case o.SubscribeWait == 0:
		o.SubscribeWait = defaultSubscribeWait
	case o.SubscribeWait < 0:
		o.SubscribeWait = 0
	}
	if o.Buckets <= 0 {
		o.Buckets = defaultBuckets
	}
	if o.Buckets > maxBuckets {
		return nil, fmt.Errorf("phxredis: Buckets %d: at most %d", o.Buckets, maxBuckets)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	_, sharded := client.(*redis.ClusterClient)
	p := &PubSub{
		client: client, sharded: sharded, mem: pubsub.NewMemory(),
		node: o.Node, prefix: o.Prefix + ":", maxMsg: o.MaxMessageBytes,
		maxQB: int64(o.QueueBytes), queueWait: o.QueueWait, room: make(chan struct{}), wait: o.SubscribeWait, buckets: o.Buckets,
		log:     o.Logger.With("pubsub", "redis", "node", o.Node),
		queue:   make(chan outMsg, o.QueueLength),
		stopPub: make(chan struct{}), pubDone: make(chan struct{}),
		topics: map[string]*topicState{}, dirty: map[string]struct{}{},
		links: map[int]*link{}, kick: make(chan struct{}, 1),
		settled: make(chan struct{}, 1),
	}
	if sharded {
		p.tags = bucketTags(o.Prefix, o.Buckets)
	}
	p.health.init(p.log)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	// A first ping says whether Redis is there; the node starts anyway.
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	err := client.Ping(ctx).Err()
	cancel()
	if err != nil {
		p.health.fail(compPublisher, err)
	}
	if !sharded {
		l := p.newLink(0)
		p.links[0] = l
		p.startLink(l)
	}
	p.wg.Add(2)
	go p.interestLoop()
	go p.publishLoop()
	return p, nil
}

func defaultNode() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(r[:])
}

// Node is this node's name, as carried by its messages.
func (p *PubSub) Node() string { return p.node }

// Close publishes what is queued (for at most a second), then stops the
// PubSub's goroutines and Pub/Sub connections (not the client). Local
// delivery keeps working; Broadcast then reports ErrClosed.
func (p *PubSub) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	// The publisher sends what is queued (at most flushWait), then stops.
	close(p.stopPub)
	t := time.NewTimer(flushWait + time.Second)
	select {
	case <-p.pubDone:
	case <-t.C: // stuck on a Redis that does not answer: cancel it
	}
	t.Stop()
	p.cancel()
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for _, l := range p.links {
		links = append(links, l)
	}
	for _, st := range p.topics {
		st.release()
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return nil
}

// Subscribe adds s to topic. When s is this node's first subscriber of
// topic, it waits (at most SubscribeWait) until Redis confirms the
// subscription, unless Redis is unreachable: then it returns at once and
// the topic is subscribed when Redis is back.
func (p *PubSub) Subscribe(topic string, s pubsub.Subscriber) { p.subscribe(topic, s, true) }

// SubscribeNoWait is Subscribe without the wait for Redis
// (pubsub.NoWaitSubscriber): phx uses it for a socket's id topic, which it
// subscribes on an event-loop worker.
func (p *PubSub) SubscribeNoWait(topic string, s pubsub.Subscriber) { p.subscribe(topic, s, false) }

func (p *PubSub) subscribe(topic string, s pubsub.Subscriber, mayWait bool) {
	p.mem.Subscribe(topic, s)
	p.mu.Lock()
	st := p.topics[topic]
	if st == nil {
		st = &topicState{} // no wait channel until someone waits: most never do
		p.topics[topic] = st
		p.markDirty(topic)
	}
	wait := mayWait && !st.released && p.wait > 0 && p.health.up() && !p.closed.Load()
	if !wait {
		p.mu.Unlock()
		return
	}
	if st.ready == nil {
		st.ready = make(chan struct{})
	}
	ready := st.ready
	p.mu.Unlock()
	t := time.NewTimer(p.wait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-p.ctx.Done():
	}
}

// Unsubscribe removes s from topic; when s was this node's last
// subscriber, the topic's Redis subscription is dropped soon after, but
// Unsubscribe never waits for Redis.
func (p *PubSub) Unsubscribe(topic string, s pubsub.Subscriber) {
	p.mem.Unsubscribe(topic, s)
	if p.mem.Subscribers(topic) > 0 {
		return
	}
	p.mu.Lock()
	if p.topics[topic] != nil {
		p.markDirty(topic)
	}
	p.mu.Unlock()
}

// markDirty queues topic for the interest goroutine; p.mu is held.
func (p *PubSub) markDirty(topic string) {
	p.dirty[topic] = struct{}{}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Broadcast delivers b on this node at once and queues it for the other
// nodes. A non-nil error (ErrTooLarge, ErrQueueFull, ErrUnavailable,
// ErrClosed) means the other nodes will not get it; nil means it was
// queued, not that Redis took it (see the package doc).
func (p *PubSub) Broadcast(b *pubsub.Broadcast) error {
	p.mem.LocalBroadcast(b)
	return p.publish(b)
}

func (p *PubSub) publish(b *pubsub.Broadcast) error {
	if p.closed.Load() {
		p.stats.publishDropped.Add(1)
		return ErrClosed
	}
	if !p.health.up() {
		p.stats.publishDropped.Add(1)
		return ErrUnavailable
	}
	size := envelopeSize(p.node, b)
	// Other nodes refuse names over maxNameLen as malformed: refuse them
	// here, where the caller hears of it.
	if size > p.maxMsg || len(b.Topic) > maxNameLen || len(b.Event) > maxNameLen {
		p.stats.publishDropped.Add(1)
		return ErrTooLarge
	}
	m := outMsg{channel: p.channel(b.Topic), data: appendEnvelope(make([]byte, 0, size), p.node, b)}
	err := p.enqueue(m, int64(size))
	if err != nil {
		p.stats.publishDropped.Add(1)
	}
	return err
}

// enqueue puts m (size bytes) in the publish queue, waiting at most
// queueWait for room.
func (p *PubSub) enqueue(m outMsg, size int64) error {
	var timeout <-chan time.Time
	for {
		if p.queueBytes.Add(size) <= p.maxQB {
			select {
			case p.queue <- m:
				return nil
			default:
			}
			if timeout == nil {
				if p.queueWait <= 0 {
					p.queueBytes.Add(-size)
					return ErrQueueFull
				}
				t := time.NewTimer(p.queueWait)
				defer t.Stop()
				timeout = t.C
			}
			select {
			case p.queue <- m:
				return nil
			case <-timeout:
				p.queueBytes.Add(-size)
				return ErrQueueFull
			case <-p.ctx.Done():
				p.queueBytes.Add(-size)
				return ErrClosed
			}
		}
		p.queueBytes.Add(-size)
		if timeout == nil {
			if p.queueWait <= 0 {
				return ErrQueueFull
			}
			t := time.NewTimer(p.queueWait)
			defer t.Stop()
			timeout = t.C
		}
		p.roomWaits.Add(1)
		p.roomMu.Lock()
		room := p.room
		p.roomMu.Unlock()
		if p.queueBytes.Load()+size <= p.maxQB {
			// Room was made before the publisher could see us waiting.
			p.roomWaits.Add(-1)
			continue
		}
		var err error
		select {
		case <-room:
		case <-timeout:
			err = ErrQueueFull
		case <-p.ctx.Done():
			err = ErrClosed
		}
		p.roomWaits.Add(-1)
		if err != nil {
			return err
		}
	}
}

// madeRoom wakes the broadcasts waiting for room in the queue.
func (p *PubSub) madeRoom() {
	if p.roomWaits.Load() == 0 {
		return
	}
	p.roomMu.Lock()
	close(p.room)
	p.room = make(chan struct{})
	p.roomMu.Unlock()
}

// LocalBroadcast delivers b to this node's subscribers only.
func (p *PubSub) LocalBroadcast(b *pubsub.Broadcast) { p.mem.LocalBroadcast(b) }

// Subscribers counts this node's subscribers of topic.
func (p *PubSub) Subscribers(topic string) int { return p.mem.Subscribers(topic) }

// Connected reports whether Redis is reachable (pubsub.Health): false from
// the first failure seen until every connection works again.
func (p *PubSub) Connected() bool { return p.health.up() }

// Stats returns the PubSub's counters.
func (p *PubSub) Stats() PubSubStats {
	return PubSubStats{
		Connected:      p.health.up(),
		Published:      p.stats.published.Load(),
		PublishErrors:  p.stats.publishErrors.Load(),
		PublishDropped: p.stats.publishDropped.Load(),
		Queued:         len(p.queue),
		Received:       p.stats.received.Load(),
		Dropped:        p.stats.dropped.Load(),
		Reconnects:     p.stats.reconnects.Load(),
		Topics:         int(p.inRedis.Load()),
		Commands:       p.stats.commands.Load(),
	}
}

// bucket is topic's hash-tag bucket with a Redis Cluster (0 with one
// server). It must be the same on every node: FNV-1a, not a seeded hash.
func (p *PubSub) bucket(topic string) int {
	if !p.sharded {
		return 0
	}
	// FNV-1a, written out: hash/fnv's hasher and the []byte(topic) it
	// takes would be two allocations per published and received message.
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h ^= uint32(topic[i])
		h *= 16777619
	}
	return int(h % uint32(p.buckets))
}

// channel is topic's Redis channel: Prefix:topic on one server,
// {tag}Prefix:topic on a cluster, tag being the topic's bucket's hash tag
// (see bucketTags).
func (p *PubSub) channel(topic string) string {
	if !p.sharded {
		return p.prefix + topic
	}
	return "{" + p.tags[p.bucket(topic)] + "}" + p.prefix + topic
}

// topicOf is the topic of a channel name of this PubSub, false for a
// name it would not have made.
func (p *PubSub) topicOf(channel string) (string, bool) {
	rest, tag := channel, ""
	if p.sharded {
		end := strings.IndexByte(rest, '}')
		if end < 1 || rest[0] != '{' {
			return "", false
		}
		tag, rest = rest[1:end], rest[end+1:]
	}
	topic, ok := strings.CutPrefix(rest, p.prefix)
	if !ok || topic == "" || (p.sharded && p.tags[p.bucket(topic)] != tag) {
		return "", false
	}
	return topic, true // what p.channel(topic) makes, compared without making it
}

var _ pubsub.PubSub = (*PubSub)(nil)
