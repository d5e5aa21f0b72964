// Package phx is the Phoenix Channels runtime of phxgo: sockets, channels,
// routing, PubSub and the connect flow, speaking the wire protocol of
// Phoenix so that unmodified phoenix.js clients work against it.
//
// A Server authenticates each connect with Config.Connect. A refused
// connect is answered, by default, with a completed upgrade, one
// phx_connect_error message on topic "phoenix" and a close frame carrying
// the app's code and reason — something a browser can read, unlike
// Phoenix's HTTP 403 — plus a reconnect brake that refuses the same
// client's immediate retries before the upgrade so that phoenix.js backs
// off, and a join deadline that closes sockets which join nothing.
//
// Channel routes map topic patterns to ChannelHandler values. Each channel
// instance has a mailbox: its handler calls run one at a time, in order, on
// a goroutine that exists only while there is work, so a slow handler
// blocks neither the socket's other channels nor the event loop.
//
// # Concurrency and lock ordering
//
// Locks, outermost first; a goroutine holding one may take only those
// listed after it:
//
//  1. PubSub shard lock (read lock during fan-out). Subscriber.Deliver runs
//     under it, so Deliver never subscribes, unsubscribes or blocks.
//  2. Channel.mu (mailbox queue, held-back writes, state changes).
//  3. Socket.mu (the topic → channel table).
//  4. The transport's own locks (the event loop's connection queue), taken inside
//     send and close, which never block.
//
// The socket's inbound gate (inbound.go) counts with atomics; its lock is
// taken only by an acquire that reaches a cap or a release while paused,
// with none of these held; inside it run only the transport's pauseRead
// and resumeRead, which take at most lock 4.
//
// warnLog.mu (client-triggered warnings) is a leaf: it is taken from any of
// these and calls nothing while held.
//
// Socket teardown after a connection ends runs on its own goroutine
// (it unsubscribes, which takes lock 1), never inside a transport call.
package phx
