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
// write is blocked), deleted from it before it is closed, and closed
// exactly once.
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
// and arms EPOLLOUT. More than WriteQueueBytes queued makes the connection
// a slow consumer: its queue is discarded and it is closed with 1008.
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
// One sweep goroutine walks the sharded registry every SweepInterval and
// enforces HandshakeTimeout (drop), FrameTimeout (close 1008 "frame
// timeout", then FIN), IdleTimeout (close 1001 "idle timeout") and
// CloseTimeout (drop). Connections stamp a coarse clock the sweep
// advances, not time.Now.
//
// # Lock ordering
//
// Locks are taken in this order and never the other way round; all are
// held briefly and never across a handler call or a blocking syscall:
//
//	Server.mu (RLock in register)  →  registry shard.mu  (tryAdd)
//	Server.mu (RLock in register)  →  easygo Epoll.mu     (Add)
//	Conn.mu                        →  (nothing: schedule runs after Unlock)
//	pool.mu                        →  (nothing)
//	registry shard.mu              →  (nothing: the sweep and Shutdown collect
//	                                  connections, then act after Unlock)
//
// Handlers are called with no lock held. Conn.mu guards the write queue
// and the close state; it is the only lock Send and Close take before
// scheduling.
package netpoll
