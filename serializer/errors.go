package serializer

import (
	"errors"
	"fmt"
)

// Sentinel errors, matched with errors.Is.
//
// Every error Decode returns for a bad frame is a *DecodeError, which matches
// ErrMalformed and, through Unwrap, one specific sentinel: ErrMalformed itself
// for a JSON shape problem, or ErrInvalidUTF8, ErrBadBinary or ErrBinaryV1.
// Phoenix closes the socket on every one of them.
var (
	// ErrUnsupportedVsn: the vsn connect param matches no serializer, or a
	// Version value is neither V1 nor V2.
	ErrUnsupportedVsn = errors.New("serializer: unsupported vsn")
	// ErrMalformed: the frame is not a message of the negotiated format.
	ErrMalformed = errors.New("serializer: malformed frame")
	// ErrInvalidUTF8: a text frame is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("serializer: text frame is not valid UTF-8")
	// ErrBadBinary: a binary frame has an incomplete header or a kind its
	// sender cannot send: Decode takes only a client push (kind 0x00),
	// DecodeServer a server push, reply or broadcast.
	ErrBadBinary = errors.New("serializer: malformed binary frame")
	// ErrFieldTooLong: a binary frame header field (join_ref, ref, topic,
	// event or status) is longer than 255 bytes.
	ErrFieldTooLong = errors.New("serializer: binary header field longer than 255 bytes")
	// ErrBinaryV1: V1 has no binary frames, in either direction.
	ErrBinaryV1 = errors.New("serializer: V1 cannot carry binary payloads")
	// ErrBadRef: a ref to be written into a binary header is a JSON object or
	// array (or not JSON at all), which has no text form.
	ErrBadRef = errors.New("serializer: ref is not a JSON string, number, boolean or null")
)

// DecodeError reports why Decode rejected a frame. It matches ErrMalformed
// with errors.Is and unwraps to the specific sentinel in Err.
type DecodeError struct {
	Version Version // format the frame was decoded as
	Reason  string  // what was wrong, e.g. "want 5 elements, got 3"
	Err     error   // ErrMalformed, ErrInvalidUTF8, ErrBadBinary or ErrBinaryV1
}

// Error returns, for example, "serializer: v2: want 5 elements, got 3".
func (e *DecodeError) Error() string {
	return "serializer: " + e.Version.String() + ": " + e.Reason
}

// Unwrap returns the specific sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports true for ErrMalformed: every decode failure is a malformed frame.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

// malformed builds a *DecodeError for a JSON shape problem.
func malformed(v Version, format string, args ...any) error {
	return &DecodeError{Version: v, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

// badBinary builds a *DecodeError for an unusable binary frame.
func badBinary(format string, args ...any) error {
	return &DecodeError{Version: V2, Reason: "binary frame: " + fmt.Sprintf(format, args...), Err: ErrBadBinary}
}

// fieldTooLong reports a binary header field that does not fit its length byte.
func fieldTooLong(field string, n int) error {
	return fmt.Errorf("serializer: encode binary: %s is %d bytes: %w", field, n, ErrFieldTooLong)
}
