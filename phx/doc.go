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
// # Lock ordering
//
// Locks are taken in this order and never the other way round; a goroutine
// holding one may take only those listed after it. None is held across a
// handler call (Connect, Join, HandleIn, Terminate, …), which all run with
// no phx lock held.
//
//  1. lpSession.postMu (LongPoll): one POST of a session at a time. It is
//     held while the POST's frames are handled, so everything below may
//     be taken under it; nothing takes it while holding another lock.
//  2. The PubSub's locks (for pubsub.Memory, a topic shard's RWMutex, read
//     locked during fan-out; see package pubsub). phx's subscribers
//     (sockets and channel instances) are delivered to under them, so
//     their Deliver never subscribes, unsubscribes or blocks.
//  3. Channel.mu (mailbox queue, held-back writes, state changes, After
//     timers). The mailbox goroutine is started after it is released.
//  4. Socket.mu (the topic → channel table, the closed flag).
//  5. The socket's inbound gate (inbound.go) counts with atomics; its
//     lock, gate.mu, is taken only by an acquire that reaches a cap, a
//     release while paused, waitInbound and InboundWork. Inside it run
//     only the transport's pauseRead and resumeRead.
//  6. longPoll.mu (the session table), then lpSession.mu (a session's
//     frame buffer and state): the idle sweep reads each session under
//     the table's lock.
//  7. The transport's own locks, taken inside send and close, which never
//     block: lpSession.mu for LongPoll, netpoll's Conn.mu for WebSocket
//     (see package netpoll for its order).
//
// Leaves, taken under any of these and calling nothing while held:
// warnLog.mu (client-triggered warnings, rate-limited per key), brake.mu
// (the reconnect brake's table), deadlines.mu (sockets waiting for their
// first join), sweeper.mu (a sweeper's running state), and each
// Broadcast's sync.Once (its per-version encodings).
//
// # Goroutines
//
// phx owns these goroutines; everything else runs on the caller's or the
// transport's goroutines (netpoll's workers, net/http's handlers):
//
//   - One mailbox goroutine per channel instance, only while its mailbox
//     has work (Channel.post starts it, it exits when the queue is empty).
//     Handlers, After callbacks, Send functions and Terminate hooks
//     (OnTerminate) run there, one at a time.
//   - Socket teardown: when a WebSocket connection ends (netpoll's OnClose)
//     or a LongPoll session is closed, closedByTransport runs on a
//     goroutine of its own (it unsubscribes, which takes lock 2, and ends
//     every channel), never inside a transport call.
//   - Two sweepers (sweeper.go), each one goroutine that runs only while
//     there is something to watch: the join deadline sweeper (sockets that
//     joined nothing yet; Config.JoinDeadline) and the LongPoll session
//     sweeper (idle sessions). Server.Close and Shutdown stop both.
//   - Timers whose callbacks run on their own goroutines: each
//     Channel.After timer (its callback only enqueues into the mailbox;
//     stopped when the instance ends) and warnLog's summary timer: one
//     per warning key that dropped lines, firing once at the end of the
//     key's window to log the count (Close and Shutdown stop them and log
//     the counts at once).
//   - LongPoll blocks net/http's handler goroutines, not goroutines of its
//     own: a poll waits up to its window, a POST waits while its socket's
//     input is paused (at most Config.InboundStall).
//
// Presence, in package phx/presence, is built on this package's exported
// API only; its locks (all taken before any phx lock) and goroutines are
// described in that package.
package phx
