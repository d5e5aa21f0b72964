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
// Channel routes map topic patterns to ChannelHandler values. A channel
// instance's handler calls run one at a time, in order. A client frame
// for a channel with nothing queued or running runs inline, on the
// goroutine that read it (a netpoll worker for a WebSocket, so that the
// frame is read, handled and answered in one pass; the POST's goroutine
// for LongPoll); everything else waits in the channel's mailbox, run by a
// goroutine that exists only while there is work.
//
// # Slow handlers
//
// Work that runs inline longer than a budget of 1 ms marks its channel
// slow: its later work goes through the mailbox goroutine, so it holds no
// transport goroutine again, until it has run fast for a while (16
// mailbox items in a row under the budget; twice as many at each
// relapse, up to 8,192). The first call that blocks is not moved: it
// holds the goroutine that runs it until it returns. For a WebSocket
// that is a netpoll worker: netpoll serves the other connections on its
// other workers (see package netpoll for how it covers a stuck one), so
// other sockets are not held up; but the frames of the same socket, for
// its other channels too, are not read until that one call returns (a
// socket's input is read by one goroutine at a time, in order). For
// LongPoll it is the POST, whose response and the session's next POST
// wait. A handler that is known to block on every call (a query per
// event) is cheaper behind its own goroutine: have it hand the work to
// one and answer with Channel.Reply. The budget is wall-clock time: on
// a loaded machine a fast handler whose thread is preempted can be found
// slow too, which costs it only the mailbox hops until it recovers.
//
// # Lock ordering
//
// Locks are taken in this order and never the other way round; a goroutine
// holding one may take only those listed after it. None is held across a
// handler call (Connect, Join, HandleIn, Terminate, …), which all run with
// no phx lock held, but lpSession.postMu: a LongPoll POST's frames run
// inline under it.
//
//  1. lpSession.postMu (LongPoll): one POST of a session at a time. It is
//     held while the POST's frames are handled, handlers run inline
//     included, so everything below may be taken under it; nothing takes
//     it while holding another lock, and no handler-reachable code takes
//     it (only the LongPoll POST handler does).
//  2. The PubSub's locks (for pubsub.Memory, a topic shard's RWMutex, read
//     locked during fan-out; see package pubsub). phx's subscribers
//     (sockets and channel instances) are delivered to under them, so
//     their Deliver never subscribes, unsubscribes or blocks.
//  3. Channel.mu (mailbox queue and inline claim, held-back writes,
//     state changes, After timers). The mailbox goroutine is started, and
//     inline work run, after it is released.
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
//     A channel's work runs there, one item at a time, unless it runs
//     inline: client frames on the transport's goroutine and fired After
//     timers on the timer's goroutine, when nothing of the channel is
//     queued or running and it is not slow (mailbox.go). Send, Stop,
//     intercepted broadcasts, a socket's teardown and the join that
//     replaces an instance always go through the mailbox: their callers
//     may hold locks (the PubSub's, during a fan-out) or must not wait.
//   - Socket teardown: when a WebSocket connection ends (netpoll's OnClose)
//     or a LongPoll session is closed, closedByTransport runs on a
//     goroutine of its own (it unsubscribes, which takes lock 2, and ends
//     every channel), never inside a transport call.
//   - Two sweepers (sweeper.go), each one goroutine that runs only while
//     there is something to watch: the join deadline sweeper (sockets that
//     joined nothing yet; Config.JoinDeadline) and the LongPoll session
//     sweeper (idle sessions). Server.Close and Shutdown stop both.
//   - Timers whose callbacks run on their own goroutines: each
//     Channel.After timer (it runs its function there when the channel
//     is idle, else enqueues it; stopped when the instance ends) and warnLog's summary timer: one
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
