package serializer

// THIS FILE IS A STUB: the serializer helper replaces it with the real
// implementation (and deletes this file). Signatures are the contract.

import "errors"

// Version is a wire format version negotiated by the `vsn` connect param.
type Version uint8

const (
	V1 Version = 1 // JSON object frames, vsn ~> 1.0.0 (and when vsn is absent)
	V2 Version = 2 // JSON array frames + binary frames, vsn ~> 2.0.0
)

var (
	ErrUnsupportedVsn = errors.New("serializer: unsupported vsn")
	ErrMalformed      = errors.New("serializer: malformed frame")
	ErrInvalidUTF8    = errors.New("serializer: text frame is not valid UTF-8")
	ErrBadBinary      = errors.New("serializer: malformed binary frame")
	ErrFieldTooLong   = errors.New("serializer: binary header field longer than 255 bytes")
	ErrBinaryV1       = errors.New("serializer: V1 cannot carry binary payloads")
)

// ParseVsn maps the vsn connect param to a Version as Phoenix does.
func ParseVsn(vsn string) (Version, error) { panic("stub") }

// Decode decodes one client→server frame. binary reports a WebSocket binary frame.
func Decode(v Version, frame []byte, binary bool) (Message, error) { panic("stub") }

// Encode appends the server→client encoding of m to dst. isBinary reports
// whether the result must be sent as a binary frame.
func Encode(v Version, dst []byte, m *Message) (out []byte, isBinary bool, err error) {
	panic("stub")
}
