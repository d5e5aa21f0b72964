package netpoll

import (
	"log/slog"
	"runtime"
	"time"
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
	Workers          int           // read/flush worker goroutines (default 4×GOMAXPROCS, at least 8)
	MaxConns         int           // open WebSocket connections, handshakes included (default 100000)
	HandshakeTimeout time.Duration // whole HTTP request head must arrive within this (default 10s)
	FrameTimeout     time.Duration // a started frame must complete within this (default 30s)
	MaxFrameSize     int64         // largest accepted message payload (default 1 MiB); over it: close 1009
	WriteQueueBytes  int           // queued, unwritten bytes per connection before it is a slow consumer (default 4 MiB)
	IdleTimeout      time.Duration // no inbound frame for this long: close 1001 (default 60s; negative disables)
	CloseTimeout     time.Duration // after our close frame, wait this long for the peer's (default 2s)
	Logger           *slog.Logger

	// SweepInterval is how often the single timer sweep runs (and how
	// coarse the connection clock is). Default: a quarter of the smallest
	// timeout, between 5 ms and 500 ms.
	SweepInterval time.Duration
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
	if c.Workers <= 0 {
		c.Workers = max(8, 4*runtime.GOMAXPROCS(0))
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 100000
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
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.CloseTimeout <= 0 {
		c.CloseTimeout = 2 * time.Second
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
	m := min(c.HandshakeTimeout, c.FrameTimeout, c.CloseTimeout)
	if c.IdleTimeout > 0 {
		m = min(m, c.IdleTimeout)
	}
	return min(max(m/4, 5*time.Millisecond), 500*time.Millisecond)
}
