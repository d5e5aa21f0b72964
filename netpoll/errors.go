package netpoll

import "errors"

// Sentinel errors; match them with errors.Is.
var (
	// ErrClosed is returned by Send once the connection is closing or gone.
	ErrClosed = errors.New("netpoll: connection closed")
	// ErrSlowConsumer is returned by the Send that found the write queue
	// over Config.WriteQueueBytes; the connection is being closed.
	ErrSlowConsumer = errors.New("netpoll: write queue full (slow consumer)")
	// ErrServerClosed is returned by Serve after Shutdown or Close.
	ErrServerClosed = errors.New("netpoll: server closed")
	// ErrTooManyConns is returned (and answered with 503) when all
	// Config.MaxConns slots are taken.
	ErrTooManyConns = errors.New("netpoll: too many connections")
	// ErrBadOpCode is returned by Send for an opcode other than OpText or
	// OpBinary.
	ErrBadOpCode = errors.New("netpoll: not a data opcode")
	// ErrNotPollable is logged when an accepted or hijacked connection does
	// not expose its file descriptor (syscall.Conn), e.g. a *tls.Conn.
	ErrNotPollable = errors.New("netpoll: connection has no file descriptor")
)
