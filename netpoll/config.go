package netpoll

import (
	"log/slog"
	"math"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// OpCode is the WebSocket opcode of a data frame the server sends or receives.
type OpCode uint8

// Data opcodes (RFC 6455 §5.2).
const (
	OpText   OpCode = 0x1
	OpBinary OpCode = 0x2
)

// Close codes used by the server.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseTooBig          = 1009
	CloseInternalError   = 1011
	CloseServiceRestart  = 1012
	CloseTryAgainLater   = 1013

	// CloseNoStatus is reported to OnClose when the peer's close frame
	// carried no code (it is never sent).
	CloseNoStatus = 1005
	// CloseAbnormal is reported to OnClose when the TCP connection ended
	// without a close handshake (it is never sent).
	CloseAbnormal = 1006
)

// Config configures a Server. The zero value gives safe defaults.
type Config struct {
	// Workers is how many worker goroutines serve the event loop at once
	// (default GOMAXPROCS). A worker stuck in one task (a blocking
	// handler or Upgrader) longer than the watchdog's budget is replaced
	// by a new one, so this many keep serving; see the package doc.
	Workers int

	// MaxConns bounds every client the process serves at once: each
	// connection the listener accepts (WebSocket, handshake in progress or
	// plain HTTP handed to the fallback handler, until net/http closes
	// it), each connection adopted by UpgradeHTTP and each slot taken with
	// AcquireSlot. Over it, a new connection gets a fixed 503 and is
	// closed. Default: 100000, but at most the process's open-file limit
	// (RLIMIT_NOFILE) minus a reserve of max(64, limit/20) descriptors for
	// listeners, epoll, log files and the application, so that a flood of
	// connections is refused at this limit instead of by EMFILE for
	// everyone. An explicit MaxConns above that cap is lowered to it, with
	// a warning: raise the open-file limit (ulimit -n) to serve more.
	MaxConns int

	HandshakeTimeout time.Duration // whole HTTP request head must arrive within this, else drop (default 10s; fires ≤ 10 ms late)
	FrameTimeout     time.Duration // a started frame must complete within this (default 30s)
	MaxFrameSize     int64         // largest accepted message payload (default 1 MiB); over it: close 1009
	WriteQueueBytes  int           // queued, unwritten bytes per connection before it is a slow consumer (default 4 MiB)
	IdleTimeout      time.Duration // no inbound frame for this long: close 1001 (default 60s; negative disables)
	CloseTimeout     time.Duration // after our close frame (or HTTP answer), wait this long for the peer's close, then drop (default 2s; fires ≤ 10 ms late)
	Logger           *slog.Logger

	// ReadPauseBytes is the output backlog at which a connection's input
	// stops being read: while more than this many bytes wait to be
	// written to it (replies, pongs, broadcasts), its socket is not read,
	// so a client that sends requests or pings but
	// does not read the answers is held back by TCP instead of growing our
	// queue. Reading resumes once the backlog is back to this size or
	// less. Default: 256 KiB, at most WriteQueueBytes/4.
	ReadPauseBytes int

	// PauseTimeout closes (1008) a connection whose input stayed paused
	// this long without a break, by PauseRead ("input backlog") or by its
	// output backlog ("slow consumer": the queue is discarded first). It is
	// checked by the sweep, so it fires up to one SweepInterval late.
	// Default 30s.
	PauseTimeout time.Duration

	// MaxConnsPerIP caps the connections one client address holds at once
	// on Serve's listeners (counted like MaxConns; IPv6 addresses by their
	// /64 prefix; connections adopted by UpgradeHTTP are not counted,
	// slots taken with AcquireSlotFor, such as LongPoll sessions, are). Over it
	// the new connection gets a fixed 429 and is closed, and
	// Stats.RefusedPerIP counts it. 0 (the default) disables the cap, as
	// load tests from one host need; on a public server set it, e.g. to a
	// few hundred (clients behind one NAT share an address).
	MaxConnsPerIP int

	// ConnRatePerIP limits the new connections one client address opens
	// per second (a token bucket of ConnBurstPerIP tokens refilled at this
	// rate). Over it the connection gets a fixed 429 and is closed, and
	// Stats.RateLimited counts it. 0 (the default) disables the limit; on
	// a public server, e.g. 20 with a burst of 40.
	ConnRatePerIP float64
	// ConnBurstPerIP is the bucket size of ConnRatePerIP (default: twice
	// the rate, at least 1).
	ConnBurstPerIP int

	// HTTPReadTimeout bounds reading a whole plain-HTTP request, body
	// included (net/http's ReadTimeout); the request head alone must
	// arrive within HandshakeTimeout (ReadHeaderTimeout). Default 30s.
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds writing a plain-HTTP response, counted from
	// the end of its request head (net/http's WriteTimeout); it must
	// exceed the longest a handler holds a request (a LongPoll poll
	// window). Default 60s.
	HTTPWriteTimeout time.Duration
	// MaxBodyBytes caps plain-HTTP request bodies: a larger declared
	// Content-Length is answered 413 before the handler runs, and a body
	// that grows past it fails the handler's read with *http.MaxBytesError
	// (http.MaxBytesReader). Default 1 MiB.
	MaxBodyBytes int64

	// SweepInterval is how often the single timer sweep checks the
	// frame, idle and pause timeouts (and how coarse the connection clock
	// is). Default: a quarter of the smallest of those timeouts, between
	// 5 ms and 500 ms. Handshake, close and linger deadlines do not wait
	// for it: they fire on time (see the package doc).
	SweepInterval time.Duration

	// Deflate turns on permessage-deflate (off by default; see
	// DeflateConfig).
	Deflate DeflateConfig

	// MaxTLSHandshakes caps the TLS handshakes in progress at once on each
	// ServeTLS listener (each runs on a goroutine of its own, within
	// HandshakeTimeout); over it a new connection is closed at accept.
	// Default DefaultMaxTLSHandshakes (256).
	MaxTLSHandshakes int
}

// Limits that are not configurable.
const (
	maxHeadBytes   = 16 << 10  // HTTP request head (request line + headers)
	readChunk      = 64 << 10  // per-worker read buffer
	maxReadPerTask = 256 << 10 // bytes one read task takes before yielding
	maxFlushBytes  = 1 << 20   // bytes one flush task writes before yielding
	maxIovFrames   = 512       // frames per writev (2 iovecs each; IOV_MAX is 1024)
	eagerMsgAlloc  = 64 << 10  // messages up to this size are allocated from the declared length
)

func (c Config) withDefaults() Config {
	c.Deflate = c.Deflate.withDefaults()
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxConns <= 0 {
		c.MaxConns = defaultMaxConns(fdLimit())
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	if c.FrameTimeout <= 0 {
		c.FrameTimeout = 30 * time.Second
	}
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = 1 << 20
	}
	if c.WriteQueueBytes <= 0 {
		c.WriteQueueBytes = 4 << 20
	}
	if c.ReadPauseBytes <= 0 {
		c.ReadPauseBytes = min(256<<10, max(c.WriteQueueBytes/4, 1))
	}
	if c.PauseTimeout <= 0 {
		c.PauseTimeout = 30 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 2 * time.Second
	}
	if c.ConnRatePerIP > 0 && c.ConnBurstPerIP <= 0 {
		c.ConnBurstPerIP = max(1, int(math.Ceil(2*c.ConnRatePerIP)))
	}
	if c.HTTPReadTimeout <= 0 {
		c.HTTPReadTimeout = 30 * time.Second
	}
	if c.HTTPWriteTimeout <= 0 {
		c.HTTPWriteTimeout = 60 * time.Second
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = defaultSweep(c)
	}
	return c
}

// defaultSweep keeps the sweep coarse (cheap) for production timeouts and
// fine enough for the short timeouts tests use.
func defaultSweep(c Config) time.Duration {
	m := min(c.FrameTimeout, c.PauseTimeout)
	if c.IdleTimeout > 0 {
		m = min(m, c.IdleTimeout)
	}
	return min(max(m/4, 5*time.Millisecond), 500*time.Millisecond)
}

// fdLimit is the process's soft open-file limit (0 if unknown or
// unlimited). Go raises the soft limit to the hard one at start-up.
func fdLimit() uint64 {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil || rl.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return rl.Cur
}

// defaultMaxConns is 100000, or less when the open-file limit nofile
// cannot hold that many sockets besides a reserve (see fdCap).
func defaultMaxConns(nofile uint64) int {
	return min(100000, fdCap(nofile))
}

// fdCap is the most connections the open-file limit nofile can hold
// besides a reserve of max(64, nofile/20) descriptors for listeners,
// epoll, log files and the application (MaxInt if unlimited).
func fdCap(nofile uint64) int {
	if nofile == 0 {
		return math.MaxInt
	}
	reserve := max(64, nofile/20)
	if nofile <= reserve {
		return 1
	}
	return int(min(nofile-reserve, math.MaxInt32))
}
