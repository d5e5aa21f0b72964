package phx

import (
	"log/slog"
	"time"

	"github.com/phxgo/phxgo/netpoll"
)

// NetConfig tunes the event loop that serves WebSocket connections (and,
// under Serve, every connection of the listener). The zero value of every
// field is a safe default. The connection limits count LongPoll sessions
// too (see LongPollConfig).
type NetConfig struct {
	// Workers is how many event-loop workers serve at once (default
	// GOMAXPROCS). They wait on epoll, read, run the channels' handlers
	// inline and write; a worker stuck in one handler for 1 ms is
	// replaced by a new one (within 1–5 ms of the handler's start: the
	// watchdog looks less often while handlers are quick), so this many
	// keep serving (see package netpoll). Raising it does not make
	// blocking handlers cheaper.
	Workers int

	// MaxConns bounds every client the process serves at once: each
	// connection Serve's listener accepts (WebSocket, handshake in
	// progress, or plain HTTP handed to the fallback handler until
	// net/http closes it), each WebSocket upgraded through ServeHTTP and
	// each LongPoll session. Over it, a new connection gets a fixed 503
	// and is closed. Default: 100,000, but at most the process's open-file
	// limit (RLIMIT_NOFILE) minus a reserve of max(64, limit/20)
	// descriptors for listeners, epoll, log files and the application, so
	// that a flood of connections is refused at this limit instead of by
	// EMFILE for everyone. A MaxConns above that cap is lowered to it,
	// with a warning: raise the open-file limit (ulimit -n) to serve more.
	MaxConns int

	// HandshakeTimeout: the whole HTTP request head must arrive within
	// this, else the connection is dropped (default 10s; fires at most
	// 10 ms late).
	HandshakeTimeout time.Duration
	// FrameTimeout: a WebSocket frame the client has started must be
	// complete within this (default 30s).
	FrameTimeout time.Duration
	// MaxFrameSize is the largest WebSocket message a client may send
	// (default 1 MiB); a larger one closes the socket with CloseTooBig. It
	// is also the default LongPollConfig.MaxBody.
	MaxFrameSize int64
	// WriteQueueBytes is how many queued, unwritten bytes one WebSocket
	// may have before it is a slow consumer (default 4 MiB): the write
	// that finds it over fails with ErrSlowConsumer, the queue is
	// discarded and the socket closed with ClosePolicyViolation.
	WriteQueueBytes int
	// IdleTimeout closes, with CloseGoingAway, a WebSocket that sent no
	// frame for this long (default 60s, twice phoenix.js's 30s heartbeat;
	// negative disables).
	IdleTimeout time.Duration
	// CloseTimeout is how long, after our close frame (or HTTP answer), the
	// peer's close is awaited before the connection is dropped (default
	// 2s; fires at most 10 ms late).
	CloseTimeout time.Duration

	// ReadPauseBytes is the output backlog at which a WebSocket's input
	// stops being read: while more than this many bytes wait to be
	// written to it (replies, pongs, broadcasts), it is not read, so a
	// client that sends requests or pings but does not read the answers
	// is held back by TCP instead of growing our queue. Reading resumes
	// once the backlog is back to this size or less. Default: 256 KiB, at
	// most WriteQueueBytes/4.
	ReadPauseBytes int
	// PauseTimeout closes (ClosePolicyViolation) a WebSocket whose input
	// stayed paused this long without a break, by inbound backpressure
	// (Config.MaxInbound) or by its output backlog (a slow consumer: the
	// queue is discarded first). It is checked by the sweep, so it fires
	// up to one SweepInterval late. Default 30s.
	PauseTimeout time.Duration

	// MaxConnsPerIP caps the connections one client address holds at once
	// (IPv6 addresses by their /64 prefix), counted like MaxConns on
	// Serve's listener, LongPoll sessions included; WebSockets upgraded
	// through ServeHTTP are not counted. Over it the new connection gets a
	// fixed 429 and is closed, and NetStats.RefusedPerIP counts it. 0 (the
	// default) disables the cap, as load tests from one host need; on a
	// public server set it, e.g. to a few hundred (clients behind one NAT
	// share an address).
	MaxConnsPerIP int
	// ConnRatePerIP limits the new connections one client address opens
	// on Serve's listener per second (a token bucket of ConnBurstPerIP
	// tokens refilled at this rate). Over it the connection gets a fixed
	// 429 and is closed, and NetStats.RateLimited counts it. 0 (the
	// default) disables the limit; on a public server, e.g. 20 with a
	// burst of 40.
	ConnRatePerIP float64
	// ConnBurstPerIP is the bucket size of ConnRatePerIP (default: twice
	// the rate, at least 1).
	ConnBurstPerIP int

	// HTTPReadTimeout bounds reading a whole plain-HTTP request on Serve's
	// listener (LongPoll, the fallback handler), body included (net/http's
	// ReadTimeout); the request head alone must arrive within
	// HandshakeTimeout. Default 30s.
	HTTPReadTimeout time.Duration
	// HTTPWriteTimeout bounds writing a plain-HTTP response on Serve's
	// listener, counted from the end of its request head (net/http's
	// WriteTimeout); it must exceed the longest a handler holds a request
	// (the LongPoll window). Default 60s.
	HTTPWriteTimeout time.Duration
	// MaxBodyBytes caps plain-HTTP request bodies on Serve's listener: a
	// larger declared Content-Length is answered 413 before the handler
	// runs, and a body that grows past it fails the handler's read with
	// *http.MaxBytesError. Default 1 MiB; it is raised above
	// LongPollConfig.MaxBody when needed, so that LongPoll answers its own
	// oversized POSTs.
	MaxBodyBytes int64

	// SweepInterval is how often the timer sweep checks the frame, idle
	// and pause timeouts (and how coarse the connection clock is).
	// Default: a quarter of the smallest of those timeouts, between 5 ms
	// and 500 ms. Handshake and close deadlines do not wait for it.
	SweepInterval time.Duration

	// MaxTLSHandshakes caps the TLS handshakes in progress at once on a
	// ServeTLS listener (each within HandshakeTimeout); over it a new
	// connection is closed at accept. Default 256.
	MaxTLSHandshakes int
}

// netpoll is the event loop's configuration; it logs to log.
func (c NetConfig) netpoll(log *slog.Logger) netpoll.Config {
	return netpoll.Config{
		Workers:          c.Workers,
		MaxConns:         c.MaxConns,
		HandshakeTimeout: c.HandshakeTimeout,
		FrameTimeout:     c.FrameTimeout,
		MaxFrameSize:     c.MaxFrameSize,
		WriteQueueBytes:  c.WriteQueueBytes,
		IdleTimeout:      c.IdleTimeout,
		CloseTimeout:     c.CloseTimeout,
		Logger:           log,
		ReadPauseBytes:   c.ReadPauseBytes,
		PauseTimeout:     c.PauseTimeout,
		MaxConnsPerIP:    c.MaxConnsPerIP,
		ConnRatePerIP:    c.ConnRatePerIP,
		ConnBurstPerIP:   c.ConnBurstPerIP,
		HTTPReadTimeout:  c.HTTPReadTimeout,
		HTTPWriteTimeout: c.HTTPWriteTimeout,
		MaxBodyBytes:     c.MaxBodyBytes,
		SweepInterval:    c.SweepInterval,
		MaxTLSHandshakes: c.MaxTLSHandshakes,
	}
}

// NetStats is a snapshot of the event loop's counters (Server.NetStats).
type NetStats struct {
	Conns          int64 // open WebSocket connections
	Registered     int64 // connections held, handshakes and closing ones included
	Accepted       int64 // connections taken in by Serve's listener or a ServeHTTP upgrade
	Refused        int64 // connections and LongPoll sessions refused at NetConfig.MaxConns
	HandedOff      int64 // plain HTTP connections given to the fallback handler
	SlowConsumers  int64 // WebSockets closed as slow consumers
	ProtocolErrors int64 // WebSockets failed for protocol violations
	Writes         int64 // writev calls
	FramesOut      int64 // frames (and HTTP responses) completely written

	Slots          int64 // NetConfig.MaxConns places in use (connections of every kind, LongPoll sessions)
	HTTPConns      int64 // plain HTTP connections held by the fallback's net/http server
	RefusedPerIP   int64 // connections refused at NetConfig.MaxConnsPerIP
	RateLimited    int64 // connections refused by NetConfig.ConnRatePerIP
	ReadPaused     int64 // WebSockets whose input is withheld now (backpressure or output backlog)
	PauseTimeouts  int64 // WebSockets closed for staying paused longer than NetConfig.PauseTimeout
	MaxQueuedBytes int64 // most bytes any WebSocket ever had queued for writing (≤ WriteQueueBytes, plus a close frame)

	TLSHandshakes int64 // ServeTLS handshakes completed
	TLSFailed     int64 // ServeTLS handshakes failed or timed out (NetConfig.HandshakeTimeout)
	TLSRefused    int64 // ServeTLS connections closed at accept: NetConfig.MaxTLSHandshakes in progress
	TLSInProgress int64 // ServeTLS handshakes running now
}

func netStats(s netpoll.Stats) NetStats {
	return NetStats{Conns: s.Conns, Registered: s.Registered, Accepted: s.Accepted,
		Refused: s.Refused, HandedOff: s.HandedOff, SlowConsumers: s.SlowConsumers,
		ProtocolErrors: s.ProtocolErrors, Writes: s.Writes, FramesOut: s.FramesOut,
		Slots: s.Slots, HTTPConns: s.HTTPConns, RefusedPerIP: s.RefusedPerIP,
		RateLimited: s.RateLimited, ReadPaused: s.ReadPaused, PauseTimeouts: s.PauseTimeouts,
		MaxQueuedBytes: s.MaxQueuedBytes, TLSHandshakes: s.TLSHandshakes, TLSFailed: s.TLSFailed,
		TLSRefused: s.TLSRefused, TLSInProgress: s.TLSInProgress}
}

// upgrader is the Server seen by the event loop (netpoll.Upgrader), so that
// the hook is not one of the Server's exported methods.
type upgrader Server

func (u *upgrader) HandleUpgrade(req *netpoll.UpgradeRequest) netpoll.UpgradeResponse {
	return (*Server)(u).handleUpgrade(req)
}
