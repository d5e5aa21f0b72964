package phx

import (
	"log/slog"
	"strconv"
)

// CloseCode is the status code of a WebSocket close frame (RFC 6455 §7.4).
// It is a uint16 because that is what the frame carries: a CloseCode cannot
// hold a value that no close frame could send. Over LongPoll, which has no
// close frame, the code only reaches the logs and Terminate's reasons.
//
// The codes 1000–2999 belong to the protocol; phx sends the ones below for
// its own reasons. The codes 4000–4999 are the application's: phx uses
// 4408 (join deadline) and 4500 (a failed Connect), and a Connect that
// refuses a client picks one for its ConnectError. The convention, which
// the constants here follow, is 4000 plus the HTTP status with the same
// meaning.
type CloseCode uint16

// Close codes of the WebSocket protocol that phx sends or reports.
const (
	// CloseNormal (1000) is a normal close.
	CloseNormal CloseCode = 1000
	// CloseGoingAway (1001) is sent by Socket.Close, by a "disconnect"
	// broadcast on the socket id, when a socket sent nothing for the idle
	// timeout, and when a LongPoll session expires.
	CloseGoingAway CloseCode = 1001
	// CloseProtocolError (1002) is sent for a broken binary frame or a
	// violation of the WebSocket protocol.
	CloseProtocolError CloseCode = 1002
	// CloseUnsupportedData (1003) is sent for a binary frame on a socket
	// that negotiated the 1.0.0 serializer, which has none.
	CloseUnsupportedData CloseCode = 1003
	// CloseNoStatus (1005) is reported when the client's close frame
	// carried no code; it is never sent.
	CloseNoStatus CloseCode = 1005
	// CloseAbnormal (1006) is reported when the connection ended without a
	// close handshake; it is never sent.
	CloseAbnormal CloseCode = 1006
	// CloseInvalidPayload (1007) is sent for a message that cannot be
	// decoded (not JSON, not a Phoenix message, or not UTF-8).
	CloseInvalidPayload CloseCode = 1007
	// ClosePolicyViolation (1008) is sent for a ref over Config.MaxRefBytes,
	// to a slow consumer, and to a socket whose input stayed paused too long.
	ClosePolicyViolation CloseCode = 1008
	// CloseTooBig (1009) is sent for a message over the frame size limit.
	CloseTooBig CloseCode = 1009
	// CloseInternalError (1011) means the server met an unexpected condition.
	CloseInternalError CloseCode = 1011
	// CloseServiceRestart (1012) is sent to every socket by Server.Shutdown.
	CloseServiceRestart CloseCode = 1012
	// CloseTryAgainLater (1013) means the server is overloaded for now.
	CloseTryAgainLater CloseCode = 1013
)

// Application close codes (4000–4999): the ones phx sends itself and the
// conventional ones for a ConnectError.
const (
	// CloseUnauthorized (4401): the client's credentials are missing,
	// invalid or expired.
	CloseUnauthorized CloseCode = 4401
	// CloseForbidden (4403): the client is known but may not connect.
	CloseForbidden CloseCode = 4403
	// CloseJoinTimeout (4408) is sent by phx to a socket that joined no
	// channel within Config.JoinDeadline, with phx_connect_error
	// {"reason":"join_timeout"}.
	CloseJoinTimeout CloseCode = 4408
	// CloseTooManyRequests (4429): the client connects too often; set
	// ConnectError.RetryAfter.
	CloseTooManyRequests CloseCode = 4429
	// CloseConnectFailed (4500) is sent by phx, with reason
	// "internal_error", when Connect fails with an error that is not a
	// *ConnectError or returns an invalid ConnectError (the cause is
	// logged, never sent).
	CloseConnectFailed CloseCode = 4500
	// CloseUnavailable (4503): the app cannot serve the client for now;
	// set ConnectError.RetryAfter.
	CloseUnavailable CloseCode = 4503
)

var closeCodeNames = map[CloseCode]string{
	CloseNormal:          "normal closure",
	CloseGoingAway:       "going away",
	CloseProtocolError:   "protocol error",
	CloseUnsupportedData: "unsupported data",
	CloseNoStatus:        "no status",
	CloseAbnormal:        "abnormal closure",
	CloseInvalidPayload:  "invalid payload",
	ClosePolicyViolation: "policy violation",
	CloseTooBig:          "message too big",
	CloseInternalError:   "internal error",
	CloseServiceRestart:  "service restart",
	CloseTryAgainLater:   "try again later",
	CloseUnauthorized:    "unauthorized",
	CloseForbidden:       "forbidden",
	CloseJoinTimeout:     "join timeout",
	CloseTooManyRequests: "too many requests",
	CloseConnectFailed:   "connect failed",
	CloseUnavailable:     "unavailable",
}

// String returns the number followed by the code's name when phx names it
// ("1008 policy violation"), the number alone otherwise.
func (c CloseCode) String() string {
	n := strconv.Itoa(int(c))
	if name, ok := closeCodeNames[c]; ok {
		return n + " " + name
	}
	return n
}

// LogValue implements slog.LogValuer: logs record the number (code=1008),
// which is what a client or a proxy log shows too.
func (c CloseCode) LogValue() slog.Value { return slog.IntValue(int(c)) }

// isApp reports whether c is in the application range 4000–4999, the only
// codes a ConnectError may carry.
func (c CloseCode) isApp() bool { return c >= 4000 && c <= 4999 }
