// Package netpoll is phxgo's WebSocket event loop: one epoll instance
// served by a few workers that run each connection's work inline,
// per-connection write queues and one timer sweep. It speaks HTTP
// upgrades and RFC 6455 frames and knows nothing of Phoenix topics.
//
// TLS (ServeTLS, TLSListener) runs on the same loop: netpoll/TLS.md gives
// its design and figures. permessage-deflate (Config.Deflate) is
// described, with its limits and figures, in netpoll/DEFLATE.md.
//
// # Connections and file descriptors
//
// Each connection is exactly one file descriptor, a raw socket. Serve
// registers a duplicate of the listener's fd, edge-triggered, in the
// loop's own epoll (tagged Pad -1, a value no connection's generation
// takes; acceptloop.go), and the worker that takes its event accepts
// inline: accept4(SOCK_NONBLOCK|SOCK_CLOEXEC) until EAGAIN or 64 per
// task, then, if it stopped early or an event came meanwhile, it re-arms
// the listener with EPOLL_CTL_MOD, which queues its next event behind
// the connections' events already waiting. An accept error that may pass
// (EMFILE, ENFILE, ...) is logged and the listener is re-armed by a timer
// after a backoff (5 ms doubling to 1 s), so no worker sleeps; any other
// ends that Serve with the error. stopAccepting removes the registration
// and closes the duplicate with the listener; Serve's own goroutine only
// waits for that. A listener that cannot be polled is served by a
// goroutine calling its Accept. There is no net.Conn, runtime poller registration or
// buffer per connection: reads and writes are plain non-blocking
// read(2) and writev(2) on the fd, and the remote address is kept as
// accept4 returned it and formatted only when asked for. The frame
// parser's state is attached to a connection only while a frame or a
// fragmented message is in progress, so an idle connection is its
// 224-byte Conn (TestScale15k bounds its Go heap). Nagle's
// algorithm is turned off (TCP_NODELAY, as net.TCPConn does): with it,
// a push that follows an unacknowledged one waits for the peer's delayed
// ACK. Accepted sockets inherit the option from the listener, where it
// is set once (hs_accept.go; each socket still gets its own setsockopt
// until the accept queue first drains, and the inheritance is checked
// once after that). The fd is
// registered once, edge-triggered, in our epoll, deleted from it before
// it is closed, and closed exactly once: by finalize, or, when finalize
// runs while a SendNow from another goroutine is writing on it, by that
// SendNow as it finishes (Conn.closeFD), so no write ever reaches a
// reused fd number.
//
// A plain HTTP request is handed to net/http on the same fd, which leaves
// epoll and becomes an *os.File (os.NewFile: no dup; non-blocking, so
// Go's poller serves it and deadlines work) wrapped as a net.Conn, with
// the bytes already read replayed. A connection upgraded by UpgradeHTTP
// arrives as a hijacked net.Conn: its fd is duplicated (F_DUPFD_CLOEXEC),
// the net.Conn closed and the duplicate kept, so at rest it is one fd
// too; frames the client sent along, already in net/http's buffer, are
// parsed first. A listener without an fd is served through Accept, each
// connection taken over the same way.
//
// # Event loop
//
// Registrations are edge-triggered (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET),
// set once and never modified: no epoll_ctl per event, where one-shot
// needs a re-arm per event. The price is that an event is not repeated:
// a read task reads until a short read or EAGAIN (a socket raises a new
// edge for every arrival, so bytes that come after a short read are
// announced again; not so the EOF of a half-close, so once EPOLLRDHUP
// was reported the task reads on to the EOF), and when it stops early
// (the 256 KiB budget of one task, or the input paused) it schedules its
// own next read: the task after a resume reads what waited. Every event also reports EPOLLOUT
// while the socket is writable; it only adds a flush bit, and a flush
// with nothing queued is one lock.
//
// Workers own the wait. One worker at a time holds the poll role: it
// takes up to 32 events with epoll_wait(0), or, when none is ready and
// nothing is queued, parks in Go's own poller on the epoll fd (readable
// while events are ready). No worker blocks a thread in epoll_wait: a
// goroutine in a blocking syscall keeps its P until sysmon retakes it,
// which stalls the other goroutines of the process (in BenchmarkEcho, a
// blocking wait made every echo about twice as slow). The poller then
// turns the events into task bits, claims the connections that nobody
// runs (Conn.sched, see Tasks), gives up the poll role and runs them
// itself, inline: an echo is one wake-up, read, OnMessage and the writev
// of what OnMessage queued, on one goroutine. When it has more than one
// connection to run, or work is queued, it first wakes an idle worker,
// which takes the poll role meanwhile; otherwise the others stay parked,
// and an event that arrives while the one connection runs waits for it
// (an echo's few microseconds; a task that runs long is the watchdog's:
// within two budgets another worker polls). Waking a second worker for
// every batch would cost a wake-up per message for nothing when the
// tasks are short, which they are on the request path.
//
// Work scheduled from outside a worker (Send from a broadcaster,
// ResumeRead, the sweep, a requeue for fairness) goes to the run queue,
// an intrusive FIFO of claimed connections. Its push wakes an idle worker
// through its channel, or, when every worker is busy or polling, writes
// an eventfd that sits in the epoll (so a parked poller wakes); a burst
// of pushes writes it once. Workers run up to 32 queued connections
// between two polls, so neither source starves the other.
//
// easygo's epoll (which this package used before) runs callbacks on one
// goroutine of its own that blocks in epoll_wait: every message crossed
// to a worker, and the waiting could not be handed from one goroutine
// to another when the one serving it is stuck. The module still requires
// easygo for cmd/phxbench's clients; this package no longer imports it.
//
// # Watchdog
//
// Handlers run on the workers, so a handler that blocks (a slow
// OnMessage, an Upgrader that looks a token up) holds its worker. The
// watchdog looks at the workers: one whose current task started a
// millisecond (taskBudget) ago or earlier is replaced: a new worker
// starts, so that Config.Workers keep serving the poll role and the run
// queue, and the connections of the stuck worker's batch that it had not
// started are queued for the others (the batch is taken under the
// worker's own lock, one short lock per connection run). The stuck
// connection stays with its worker, so its messages stay in order. A
// worker already marked replaced (a look can race with the end of the
// task it saw, leaving the mark through the next task) has its unstarted
// batch handed over at every look that finds it stuck. When the stuck
// task ends, its worker retires if the others are enough, handing over
// the rest of any batch it took meanwhile (a replace can race with the
// end of the task it saw and mark a worker that then takes a new batch). At most 1024
// workers exist, about 90 KB of scratch memory each (then blocked
// handlers stall the rest, and it is logged); the memory of up to 8
// retired workers is kept for the next replacement.
//
// A look costs a timer and a thread wake-up, so the watchdog paces
// itself: while a look finds a worker busy, the next comes when that
// task would reach the budget; while looks find every worker between
// tasks, the pause doubles up to 4 ms (wdMaxLook). A task that blocks is
// thus replaced within 1–5 ms of its start. Each task costs a clock read
// and two atomic adds on the worker's own fields and one load of the
// watchdog's parked flag; the watchdog parks after 64 looks in which no
// task started, and the first task after that wakes it, so an idle
// server runs no timer.
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
// Refused connections are answered at accept, in the accept task on a worker,
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
// (at most 64 KiB, whose frames are all delivered) and withholds the
// input (Conn.inHeld): it stops reading, so the kernel's buffer fills and
// TCP pushes back on the peer. Input events that arrive meanwhile only
// set bits that the task ignores while the input is held; being
// edge-triggered, they come once per arrival, and stop once the peer's
// window is full. A hang-up (EPOLLHUP, EPOLLERR) is acted on at once
// even while paused (the task sees bHup while input is held and drops
// the connection); a half-close (EPOLLRDHUP) fires its edge once and is
// seen as EOF when reading resumes.
//
// Reading resumes in the connection's own task: ResumeRead clears its
// flag and then schedules a read (the flag store happens before the CAS
// that queues the task, and the task reads the flag after it took its
// bits, so it sees the resume); a flush that brings the backlog down to
// ReadPauseBytes (or a SendNow whose inline write does), or a close,
// makes the task schedule its own read: no
// new edge would announce the data that arrived meanwhile, and that read
// takes it. A connection paused
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
// A connection's work is task bits in Conn.sched (read, flush, drop,
// hang-up) plus bQueued, set by whoever claims it: the worker that took
// its event, or schedule, which then pushes it on the run queue. While it
// is claimed, new bits only accumulate, and the run in progress picks
// them up (up to four rounds) or release requeues it. So one
// connection's work never runs on two workers at once: one read task in
// flight, OnOpen before any OnMessage, OnMessage never concurrent with
// itself and in order, OnClose once after the last OnMessage; and the
// run queue holds each connection at most once, so pushing never blocks.
//
// A read task reads at most 64 KiB at a time (256 KiB per task) into the
// worker's buffer and parses frames incrementally: a partial frame is
// kept in the connection (its header bytes and the message assembled so
// far), so it never holds a worker. Idle connections own no buffers.
//
// Send appends the payload (shared, never copied) to the connection's
// queue and schedules a flush unless one is pending; from the
// connection's own handler that flush runs in the same task. The flush
// writes every queued frame with one writev (up to 512 frames); frames
// queued meanwhile join the next writev. EAGAIN or a short write keeps
// the rest until the EPOLLOUT edge. More than WriteQueueBytes queued,
// data frames and pongs alike, makes the connection a slow consumer: its
// queue is discarded and it is closed with 1008 "slow consumer".
//
// # Handshakes
//
// Request heads are read incrementally too (at most 16 KiB, within
// HandshakeTimeout), so slow or partial heads cost their bytes, not a
// goroutine. A complete WebSocket head of the usual shape (a strict
// subset: GET, HTTP/1.1, CRLF lines of printable ASCII, each required
// header once, no extension offer to negotiate) is parsed in one pass
// where it lies in the worker's read buffer (hs_fast.go), with a handful
// of allocations; every other head is parsed and checked by gobwas's
// zero-copy Upgrader, which thus decides every unusual or bad request as
// before. A differential test and fuzzer keep the two paths agreeing on
// every head the fast one accepts (it was written for the connect cost:
// gobwas's path made 42–73 allocations per connect, the fast one 10–12).
// The Upgrader's decision is taken inline in the read task on the worker
// (the watchdog covers one that blocks); the 101 and OnOpen follow in the
// same task. Any other request is handed, with
// the bytes already read, to an internal http.Server running the
// fallback handler.
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
//	Server.mu (RLock in register)  →  fdTable.mu          (a new chunk)
//	Conn.mu                        →  deadlines.mu        (startClosingLocked, respond)
//	Conn.mu                        →  (nothing else: schedule runs after Unlock)
//	deadlines.mu                   →  (nothing: expired connections are
//	                                  dropped after Unlock)
//	worker.mu                      →  runq.mu, then loop.idleMu (handOver
//	                                  queues the batch; each push wakes)
//	loop.mu (workers, watchdog)    →  (nothing: handOver runs after Unlock)
//	runq.mu, loop.idleMu, httpConns.mu, ipShard.mu  →  (nothing)
//	registry shard.mu              →  (nothing: the sweep and Shutdown collect
//	                                  connections, then act after Unlock)
//
// Handlers are called with no lock held. Conn.mu guards the write queue
// and the close state; it is the only lock Send and Close take before
// scheduling. Lock-free state: Conn.state (transitions under Conn.mu),
// Conn.sched (CAS), the fd table (atomic pointers), the poll role and the
// worker counters the watchdog reads, Conn.flags and pausedSince (atomics, see
// Backpressure), the MaxConns counter (add, then back out if over: it can
// only overshoot into a refusal, never admit one over the limit), and the
// Stats counters.
package netpoll
