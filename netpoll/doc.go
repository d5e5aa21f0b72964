// Package netpoll is phxgo's WebSocket event loop: one epoll instance
// (easygo's, used directly), a fixed pool of workers, per-connection write
// queues and one timer sweep. It speaks HTTP upgrades and RFC 6455 frames
// and knows nothing of Phoenix topics.
//
// # Connections and file descriptors
//
// Each connection is exactly one file descriptor: the fd of the accepted
// *net.TCPConn, taken through SyscallConn (never dup'ed through File, which
// would also switch it to blocking mode). It stays non-blocking and owned
// by Go's runtime poller; reads and writes are single non-blocking
// syscalls run through rawConn.Read/Write with a callback that always
// reports done, so the runtime never parks on them. The fd is registered
// in our epoll with EPOLLIN|EPOLLRDHUP|EPOLLONESHOT (plus EPOLLOUT while a
// write is blocked, minus EPOLLIN|EPOLLRDHUP while its input is paused),
// deleted from it before it is closed, and closed exactly once.
//
// # Limits
//
// Every connection the listener accepts holds one MaxConns slot from
// accept until it is closed, whatever it turns into: a handshake in
// progress, a WebSocket, a closing or lingering connection, or a plain
// HTTP connection handed to net/http (its wrapper gives the slot back
// when net/http closes it, exactly once). Connections adopted by
// UpgradeHTTP and slots taken with AcquireSlot (LongPoll sessions) share
// the same counter (Server.used), which is separate from the registry
// count Shutdown drains. The default MaxConns stays under RLIMIT_NOFILE,
// so a flood is refused by us, cheaply, before accept fails with EMFILE.
//
// Refused connections are answered at accept, on the accept goroutine,
// with a fixed response written by one non-blocking write (503 over
// MaxConns, 429 over a per-address limit), whatever the client sent is
// read without waiting (so that the close is a FIN, not a reset), and
// the socket is closed: no goroutine, buffer or registry entry.
//
// The optional per-address limits (MaxConnsPerIP, ConnRatePerIP) key on
// the IPv4 address or the IPv6 /64. Their tables are sharded maps: a
// connection count entry exists while its address has connections; a
// token bucket entry until the bucket has refilled (the sweep prunes
// them), and at most 65536 exist: past that, new addresses are admitted
// untracked rather than refused.
//
// Plain HTTP is served by net/http with ReadHeaderTimeout =
// HandshakeTimeout, ReadTimeout = HTTPReadTimeout, WriteTimeout =
// HTTPWriteTimeout, IdleTimeout, MaxHeaderBytes = 16 KiB and bodies capped
// at MaxBodyBytes. Shutdown cuts the reads of those connections
// CloseTimeout after it starts, so trickling bodies cannot hold the drain.
//
// # Backpressure
//
// A connection's input is not read while it is paused: by PauseRead (the
// layer above has too much of its input queued), or because more than
// ReadPauseBytes of output wait to be written to it (the peer does not
// read its replies or pongs). The read task checks this before each read
// (at most 64 KiB, whose frames are all delivered), withholds the input
// (Conn.inHeld) and re-arms the registration without EPOLLIN and
// EPOLLRDHUP, so the kernel's buffer fills and TCP pushes back on the
// peer. The kernel reports EPOLLHUP and EPOLLERR on every armed
// registration, so a peer that resets while paused is dropped at once
// (the task sees bHup while input is held); a half-close is not reported
// while paused and so cannot loop, and is seen when reading resumes.
//
// Reading resumes in the connection's own task: ResumeRead clears its
// flag and then schedules a read (the flag store happens before the CAS
// that queues the task, and the task reads the flag after it took its
// bits, so it sees the resume); a flush that brings the backlog down to
// ReadPauseBytes, or a close, makes the task schedule its own read. Only
// that task calls EPOLL_CTL_MOD, so no resume races a re-arm. Data that
// arrived meanwhile is read then (level-triggered). A connection paused
// longer than PauseTimeout is closed with 1008: "input backlog" after its
// queued output for PauseRead, "slow consumer" with its queue discarded
// for an output backlog. The sweep checks again under Conn.mu that the
// pause is still in effect before it closes one (a resume that its task
// has not acted on yet cancels the timeout). While paused it is blamed
// for neither FrameTimeout nor IdleTimeout, and the idle clock restarts
// when the pause ends. Both pause causes are bits of Conn.flags (the
// output one kept where the queue crosses ReadPauseBytes), so the read
// task tests them with one load and no lock.
//
// # Tasks
//
// The epoll callback does no I/O: it sets task bits on the connection
// (read, flush, …) and queues the connection on the pool unless it is
// queued already. A connection is in the run queue at most once, so the
// queue is bounded by the number of connections, pushing never blocks, and
// one connection's work never runs on two workers at once: one read task
// in flight, OnOpen before any OnMessage, OnMessage never concurrent with
// itself and in order, OnClose once after the last OnMessage. The
// registration is re-armed (EPOLL_CTL_MOD) at the end of the task that
// consumed the event, and only by that task.
//
// A read task reads at most 256 KiB into the worker's buffer and parses
// frames incrementally: a partial frame is kept in the connection (its
// header bytes and the message assembled so far), so it never holds a
// worker. Idle connections own no buffers: about 1.5 KB of RSS each,
// kernel socket memory aside.
//
// Send appends the payload (shared, never copied) to the connection's
// queue and schedules a flush unless one is pending. The flush writes
// every queued frame with one writev (up to 512 frames); frames queued
// meanwhile join the next writev. EAGAIN or a short write keeps the rest
// and arms EPOLLOUT. More than WriteQueueBytes queued, data frames and
// pongs alike, makes the connection a slow consumer: its queue is
// discarded and it is closed with 1008 "slow consumer".
//
// # Handshakes
//
// Request heads are read incrementally too (at most 16 KiB, within
// HandshakeTimeout), so slow or partial heads cost their bytes, not a
// goroutine. A complete WebSocket head is parsed and checked by gobwas's
// zero-copy Upgrader on a goroutine of its own (the Upgrader may block on
// authentication); any other request is handed, with the bytes already
// read, to an internal http.Server running the fallback handler.
//
// # Timeouts
//
// One sweep goroutine enforces every timeout, with no timer or goroutine
// per connection. Every SweepInterval it walks the sharded registry for
// FrameTimeout (close 1008 "frame timeout", then FIN), IdleTimeout (close
// 1001 "idle timeout") and PauseTimeout; connections stamp a coarse clock
// it advances, not time.Now, so these fire up to two intervals late, never
// early. The deadlines a client is promised to the millisecond,
// HandshakeTimeout (drop) and CloseTimeout (drop after our close frame or
// an HTTP response), are kept in one list per kind: all deadlines of a
// kind have the same duration, so each list is sorted by construction and
// adding, clearing and expiring are O(1). The goroutine sleeps until its
// next tick or the earliest deadline rounded up to 10 ms, whichever comes
// first, so these deadlines fire at most 10 ms late (plus scheduling
// delay) and never early, and deadlines close together share a wake-up.
//
// # Lock ordering
//
// Locks are taken in this order and never the other way round; all are
// held briefly and never across a handler call or a blocking syscall:
//
//	Server.mu (RLock in register)  →  registry shard.mu  (add)
//	Server.mu (RLock in register)  →  easygo Epoll.mu     (Add)
//	Conn.mu                        →  deadlines.mu        (startClosingLocked, respond)
//	Conn.mu                        →  (nothing else: schedule runs after Unlock)
//	deadlines.mu                   →  (nothing: expired connections are
//	                                  dropped after Unlock)
//	pool.mu, httpConns.mu, ipShard.mu  →  (nothing)
//	registry shard.mu              →  (nothing: the sweep and Shutdown collect
//	                                  connections, then act after Unlock)
//
// Handlers are called with no lock held. Conn.mu guards the write queue
// and the close state; it is the only lock Send and Close take before
// scheduling. Lock-free state: Conn.state (transitions under Conn.mu),
// Conn.sched (CAS), Conn.flags and pausedSince (atomics, see
// Backpressure), the MaxConns counter (add, then back out if over: it can
// only overshoot into a refusal, never admit one over the limit), and the
// Stats counters.
package netpoll
