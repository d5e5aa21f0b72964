package phx

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/phxgo/phxgo/netpoll"
)

// Sentinel errors of the channels runtime, matched with errors.Is. The
// errors of a write (Channel.Push, Channel.Reply, Channel.Broadcast's
// payload check, …) are the same over WebSocket and LongPoll: a transport's
// own errors are translated where phx calls it, keeping the transport's
// cause reachable when there is one.
var (
	// ErrStop, returned by a handler (alone or wrapped), stops the channel
	// normally: the client gets phx_close (after the reply, if any).
	ErrStop = errors.New("phx: stop channel")
	// ErrChannelClosed is returned when pushing or replying on a channel
	// instance that has already left, stopped or lost its socket; once the
	// socket is gone the error matches ErrSocketClosed too.
	ErrChannelClosed = errors.New("phx: channel closed")
	// ErrSocketClosed is returned when writing to a socket whose
	// connection (WebSocket) or session (LongPoll) is closing or gone: the
	// frame was not sent.
	ErrSocketClosed = errors.New("phx: socket closed")
	// ErrSlowConsumer is returned by the write that found the socket's
	// unsent output over its cap (Config.Net.WriteQueueBytes on WebSocket,
	// LongPollConfig.MaxBuffer on LongPoll): the frame was not sent and the
	// socket is being closed with ClosePolicyViolation. It matches
	// ErrSocketClosed too.
	ErrSlowConsumer = fmt.Errorf("%w: slow consumer (unsent output over its cap)", ErrSocketClosed)
	// ErrPayloadNotObject is returned when a JSON push or broadcast payload
	// is not a JSON object (Phoenix refuses those too).
	ErrPayloadNotObject = errors.New("phx: push and broadcast payloads must be JSON objects")
	// ErrBadCloseCode is returned by ConnectError.Validate for a close code
	// outside 4000–4999.
	ErrBadCloseCode = errors.New("phx: connect error close code must be in 4000-4999")
	// ErrReasonTooLong is returned by ConnectError.Validate for a close
	// reason over 123 bytes or not valid UTF-8.
	ErrReasonTooLong = errors.New("phx: close reason must be valid UTF-8 of at most 123 bytes")
	// ErrBadPattern is returned when registering an invalid channel route.
	ErrBadPattern = errors.New("phx: invalid channel pattern")
	// ErrRefTooLong is why a socket is closed (with ClosePolicyViolation)
	// when a client sends a ref or join_ref longer than Config.MaxRefBytes:
	// a reply must echo the ref, so no reply can answer it.
	ErrRefTooLong = errors.New("phx: ref too long")
)

// Termination reasons passed to Terminator.Terminate and to
// Channel.OnTerminate's hooks (besides ErrStop and *CrashError).
var (
	// ErrLeft: the client left the channel (phx_leave).
	ErrLeft = errors.New("phx: channel left by client")
	// ErrTransportClosed: the socket's connection or LongPoll session
	// ended, whichever side closed it; every channel of the socket ends
	// with it.
	ErrTransportClosed = errors.New("phx: channel ended with its socket's transport")
	// ErrDuplicateJoin: the client joined the same topic again, and the
	// new instance replaces this one (as Phoenix does).
	ErrDuplicateJoin = errors.New("phx: channel replaced by a duplicate join")
)

// Write errors that match more than one sentinel (see translated).
var (
	// errChannelSocketClosed is a write on a channel whose socket is gone.
	errChannelSocketClosed = matchErr("phx: channel closed: socket closed", ErrChannelClosed, ErrSocketClosed)
	// errWSClosed and errWSSlow are netpoll's write errors in phx's terms.
	errWSClosed = matchErr(ErrSocketClosed.Error(), ErrSocketClosed, netpoll.ErrClosed)
	errWSSlow   = matchErr(ErrSlowConsumer.Error(), ErrSlowConsumer, netpoll.ErrSlowConsumer)
)

// multiErr is an error that errors.Is matches against each of errs.
type multiErr struct {
	msg  string
	errs []error
}

func matchErr(msg string, errs ...error) error { return &multiErr{msg: msg, errs: errs} }

func (e *multiErr) Error() string   { return e.msg }
func (e *multiErr) Unwrap() []error { return e.errs }

// wsWriteErr translates a netpoll write error into phx's sentinels, so that
// a write fails the same way over WebSocket as over LongPoll.
func wsWriteErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, netpoll.ErrSlowConsumer):
		return errWSSlow
	case errors.Is(err, netpoll.ErrClosed):
		return errWSClosed
	}
	return err
}

// ConnectError is returned by a Connect handler to refuse a socket. In the
// default reject mode the client still gets its upgrade, then one
// phx_connect_error message carrying Payload and a close frame carrying Code
// and Reason, which the browser WebSocket API exposes (unlike an HTTP 403).
type ConnectError struct {
	// Code is the close code sent to the client, 4000–4999 (4000 + an
	// HTTP-like status is the convention: CloseUnauthorized,
	// CloseForbidden, CloseTooManyRequests, CloseUnavailable).
	Code CloseCode
	// Reason is the close reason: valid UTF-8, at most 123 bytes.
	Reason string
	// Payload is the phx_connect_error payload (a JSON object); when nil
	// it is {"reason": Reason}.
	Payload any
	// RetryAfter, when set, is how soon the app asks the client to come
	// back (mirror it in Payload, e.g. as retry_after_ms, for the client
	// to read). The reconnect brake then holds this client no longer than
	// that, so a client that waits as advised gets a real answer.
	RetryAfter time.Duration
	// Err is the cause, for logs only; it is never sent.
	Err error
}

// Error implements error.
func (e *ConnectError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("phx: connect rejected (%d %s): %v", e.Code, e.Reason, e.Err)
	}
	return fmt.Sprintf("phx: connect rejected (%d %s)", e.Code, e.Reason)
}

// Unwrap returns the cause.
func (e *ConnectError) Unwrap() error { return e.Err }

// Validate checks the close code range and the reason's length and encoding.
func (e *ConnectError) Validate() error {
	if !e.Code.isApp() {
		return fmt.Errorf("%w: got %d", ErrBadCloseCode, e.Code)
	}
	if len(e.Reason) > maxCloseReason || !utf8.ValidString(e.Reason) {
		return fmt.Errorf("%w: got %d bytes", ErrReasonTooLong, len(e.Reason))
	}
	return nil
}

// maxCloseReason is the longest close reason a close frame can carry: the
// 125-byte control frame limit minus the 2-byte code.
const maxCloseReason = 123

// ReplyError makes a handler answer with a phx_reply whose status is Status
// ("error" when empty) and whose response is Response.
type ReplyError struct {
	Status   string
	Response any
}

// Error implements error.
func (e *ReplyError) Error() string {
	return fmt.Sprintf("phx: reply %s: %v", e.status(), e.Response)
}

func (e *ReplyError) status() string {
	if e.Status == "" {
		return "error"
	}
	return e.Status
}

// ErrorReply is shorthand for &ReplyError{Status: "error", Response: response}.
func ErrorReply(response any) error {
	return &ReplyError{Status: "error", Response: response}
}

// Reason is the conventional {"reason": …} response body.
func Reason(reason string) map[string]string { return map[string]string{"reason": reason} }
