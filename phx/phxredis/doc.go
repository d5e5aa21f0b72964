// Package phxredis makes phxgo servers a cluster through Redis: PubSub is
// a pubsub.PubSub (phx.Config.PubSub) whose broadcasts reach the
// subscribers of every node connected to the same Redis server or Redis
// Cluster, as Phoenix.PubSub's Redis adapter does for Phoenix. NewClient
// opens the go-redis client it runs on from a redis:// or rediss:// URL.
//
//	rdb, err := phxredis.NewClient("redis://10.0.0.5:6379/0", false)
//	...
//	ps, err := phxredis.NewPubSub(rdb, phxredis.PubSubOptions{})
//	...
//	srv := phx.NewServer(phx.Config{PubSub: ps, ...})
//
// # How a broadcast travels
//
// Each node keeps a pubsub.Memory for its own subscribers. Broadcast
// delivers there at once, as on a single node, then queues the message
// for Redis; a publisher goroutine sends the queue in pipelined batches.
// Other nodes read it from their Pub/Sub connection and hand it to their
// Memory as a fresh *pubsub.Broadcast, so each receiving node encodes it
// once per serializer version, however many of its sockets get it. A node
// skips its own messages when Redis sends them back (by node name: Node
// must be unique), and From, which names a subscriber of the publishing
// node, is ignored elsewhere.
//
// A message is a binary envelope: a version byte, flags (binary payload),
// the node name, From, topic, event, then the payload. Nothing read from
// Redis is trusted: a message that is larger than MaxMessageBytes, not a
// well-formed envelope of this version, whose topic is not its channel's,
// or whose non-binary payload is not one valid JSON object in UTF-8 (it is
// inlined into client frames as it is) is dropped and counted in
// PubSubStats.Dropped.
//
// # Channels and interest
//
// Each topic is one Redis channel, Prefix:topic ("phx:room:lobby"), and a
// node subscribes only to the topics it has local subscribers of: Redis
// sends a node only the messages it needs, so traffic grows with interest
// rather than with nodes × topics. When the first local subscriber of a
// topic arrives the topic is marked for SUBSCRIBE, when the last leaves
// for UNSUBSCRIBE, and one interest goroutine turns the marks into
// commands: one command carries every topic marked meanwhile, and the next
// is sent once Redis has answered the previous one (or after 100ms), so
// the commands follow round trips, not joins.
//
// The pubsub contract wants a Subscribe in effect on every node when it
// returns (phx writes the join reply after it). So a Subscribe that adds a
// topic new to this node waits until Redis confirms the subscription, at
// most SubscribeWait (1s); a Subscribe to a topic the node already follows
// returns at once, and Unsubscribe never waits for Redis. While Redis is
// unreachable Subscribe does not wait at all: the join proceeds, and the
// topic is subscribed when Redis is back. NoWait exempts topics from the
// wait (phx subscribes socket id topics on an event loop worker).
//
// # Redis Cluster
//
// With a *redis.ClusterClient the package uses sharded Pub/Sub (SPUBLISH,
// SSUBSCRIBE, SUNSUBSCRIBE; Redis 7), whose messages travel only within
// the shard owning the channel's slot, so no single master carries all
// traffic. Topics are hashed (FNV-1a) into Buckets (32) buckets; a
// bucket's channels carry its hash tag, {tag}Prefix:topic, so they share a
// slot, and the tags are chosen so that the buckets fall in evenly spaced
// slot ranges: masters with equal slot ranges get equal shares. A node
// opens one sharded Pub/Sub connection per bucket it has topics in (go-redis
// pins it to the master of the bucket's slot) and closes it when the
// bucket's last topic leaves. Every node must use the same Prefix and
// Buckets.
//
// # Delivery guarantees and outages
//
// Across nodes delivery is at most once, as with Phoenix.PubSub: Redis
// Pub/Sub keeps nothing for a disconnected subscriber. One publisher's
// broadcasts on a topic reach each other node in publish order (one queue,
// one pipeline at a time, one connection per channel on the receiving
// side). Broadcast returning nil means the message was queued, not that
// any node got it. It returns an error (the broadcast was still delivered
// on this node) when the message could not be queued: ErrTooLarge beyond
// MaxMessageBytes, ErrUnavailable while Redis is unreachable, ErrClosed
// after Close, and ErrQueueFull when the queue stays full for QueueWait
// (1s). The queue holds at most QueueLength (16384) messages and
// QueueBytes (64 MiB) of envelopes; a broadcast finding it full waits
// for room, which slows a publisher faster than Redis down instead of
// dropping its messages.
//
// During an outage every node keeps serving its own sockets: local
// broadcasts, joins and leaves go on. Lost are the broadcasts published
// while Redis is unreachable (not sent to other nodes: Broadcast reports
// ErrUnavailable), the messages queued or in flight when it went away
// (counted in PublishErrors), and whatever other nodes published while
// this node's Pub/Sub connection was down. The outage is logged once, at
// Warn, when it is first seen, and once at Info with its duration when
// every connection works again; PubSubStats.Connected is false meanwhile.
// (go-redis logs its own failed dials through its package logger, which
// the program sets with redis.SetLogger.)
// The connections retry with backoff (50ms doubling to 2s; the publisher
// pings Redis at that pace while it is down, every second while idle).
// go-redis subscribes a new connection to the channels it holds at that
// moment, and the interest goroutine keeps that set equal to the local
// interest throughout the outage, so after it each node is subscribed to
// exactly the topics it has subscribers of then.
//
// # Locks
//
// PubSub.mu, the interest lock, guards the topic table, the marked topics,
// the bucket connections and the replies awaited. It is taken after the
// Memory's shard locks are released (Subscribe and Unsubscribe change the
// Memory first, then take it), and the interest goroutine reads the Memory
// (Subscribers, a shard read lock) while holding it: the order is
// PubSub.mu, then a Memory shard lock, so a Subscribe that follows a
// decision to unsubscribe a topic always sees it. Deliver runs under a
// shard lock and never reaches PubSub.mu. Leaves, taken under nothing
// else and calling nothing: the health lock (outage state and its log
// lines) and the queue-room lock. go-redis's own locks are taken with
// none of these held.
//
// # Goroutines
//
// A PubSub owns these goroutines, all stopped by Close, which first
// publishes what is queued (for at most a second) and leaves the client
// open:
//
//   - the interest goroutine, sending (S)SUBSCRIBE and (S)UNSUBSCRIBE;
//   - the publisher goroutine, draining the queue into pipelines and
//     pinging Redis while idle or down;
//   - one receive goroutine per Pub/Sub connection (one for a single
//     server; one per bucket in use on a cluster), reading messages and
//     subscription replies, and delivering other nodes' broadcasts to the
//     local subscribers on that goroutine.
//
// Subscribe may block its caller up to SubscribeWait, Broadcast up to
// QueueWait when the queue is full, and NewPubSub up to 2s for a first
// PING; nothing else blocks on Redis.
package phxredis
