package netpoll

// THIS FILE IS A STUB: the netpoll helper replaces it with the real
// implementation (and deletes this file). Exported names and signatures are
// the contract the phx package is written against.

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// OpCode is the WebSocket opcode of a data frame the server sends or receives.
type OpCode uint8

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
)

var (
	ErrClosed       = errors.New("netpoll: connection closed")
	ErrSlowConsumer = errors.New("netpoll: write queue full (slow consumer)")
	ErrServerClosed = errors.New("netpoll: server closed")
	ErrTooManyConns = errors.New("netpoll: too many connections")
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
}

// UpgradeRequest is what the server read of a WebSocket upgrade request.
type UpgradeRequest struct {
	RemoteAddr net.Addr
	Host       string
	Path       string      // URL path, unescaped
	RawQuery   string      // raw query string, without '?'
	Header     http.Header // every request header, canonical keys
	Protocols  []string    // offered Sec-WebSocket-Protocol values, in order, trimmed
}

// UpgradeResponse is the decision about an upgrade request.
// Status 0 (or 101) upgrades; any other status answers with Status, Header
// and Body and closes the connection.
type UpgradeResponse struct {
	Status   int
	Header   http.Header
	Body     []byte
	Protocol string  // subprotocol to answer on success ("" answers none)
	Handler  Handler // receives the upgraded connection's events (required on success)
}

// Upgrader decides about WebSocket upgrade requests. HandleUpgrade runs on
// its own goroutine (one per handshake in progress, never per open
// connection), so it may block briefly (e.g. an auth lookup).
type Upgrader interface {
	HandleUpgrade(req *UpgradeRequest) UpgradeResponse
}

// Handler receives the events of one upgraded connection. Calls for one
// connection never overlap, except that Conn methods may be called from any
// goroutine at any time.
type Handler interface {
	// OnOpen runs once, right after the 101 response is written and before
	// any OnMessage.
	OnOpen(c *Conn)
	// OnMessage runs on a worker for each complete data message (fragments
	// reassembled). payload belongs to the handler from then on.
	OnMessage(c *Conn, op OpCode, payload []byte)
	// OnClose runs exactly once when the connection is gone, with the close
	// code and reason that ended it (sent or received; 1006 when the TCP
	// connection simply dropped).
	OnClose(c *Conn, code int, reason string)
}

// Server owns the epoll instance, the worker pool and the timer sweep.
type Server struct{}

// New starts a Server's event loop and workers.
func New(cfg Config) (*Server, error) { panic("stub") }

// Serve accepts connections on ln until Shutdown or Close. WebSocket
// upgrade requests (GET with Upgrade: websocket) go to up; every other
// request is served by fallback through net/http on the same connection.
func (s *Server) Serve(ln net.Listener, up Upgrader, fallback http.Handler) error { panic("stub") }

// UpgradeHTTP upgrades a request received through net/http (hijacking it)
// and adopts the connection, for mounting inside an existing http.Server.
func (s *Server) UpgradeHTTP(w http.ResponseWriter, r *http.Request, up Upgrader) { panic("stub") }

// Shutdown stops accepting, then closes open connections with code and
// reason in batches (batch connections every interval) until all are gone
// or ctx ends, when the rest are dropped.
func (s *Server) Shutdown(ctx context.Context, code int, reason string, batch int, interval time.Duration) error {
	panic("stub")
}

// Close drops everything at once.
func (s *Server) Close() error { panic("stub") }

// NumConns reports open upgraded connections.
func (s *Server) NumConns() int { panic("stub") }

// Conn is one upgraded WebSocket connection.
type Conn struct{}

// Send queues one data message. payload must not be modified afterwards (it
// may be shared by many connections). Send never blocks: when the queue is
// over WriteQueueBytes the connection is closed (1008 "slow consumer") and
// ErrSlowConsumer returned. Frames queued while a write is in flight go out
// together in one writev.
func (c *Conn) Send(op OpCode, payload []byte) error { panic("stub") }

// Close sends a close frame with code and reason (after every queued
// message), ignores further data frames, and drops the TCP connection when
// the peer answers or after CloseTimeout. Safe to call many times.
func (c *Conn) Close(code int, reason string) { panic("stub") }

// RemoteAddr is the peer address.
func (c *Conn) RemoteAddr() net.Addr { panic("stub") }
