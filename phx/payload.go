package phx

import (
	"fmt"

	jsoniter "github.com/json-iterator/go"
)

// json is the one JSON configuration of the package: compatible with
// encoding/json, without HTML escaping (Phoenix's Jason does not escape
// HTML either).
var json = jsoniter.Config{
	EscapeHTML:             false,
	SortMapKeys:            true,
	ValidateJsonRawMessage: true,
}.Froze()

// Payload is the payload of an inbound message: raw JSON text, or raw bytes
// when the client sent a binary frame.
type Payload struct {
	data   []byte
	binary bool
}

// Bytes returns the raw JSON text or the binary bytes. Do not modify them.
func (p Payload) Bytes() []byte { return p.data }

// IsBinary reports whether the client sent the payload as binary.
func (p Payload) IsBinary() bool { return p.binary }

// Decode unmarshals a JSON payload into v.
func (p Payload) Decode(v any) error {
	if p.binary {
		return fmt.Errorf("phx: decode payload: binary payload")
	}
	return json.Unmarshal(p.data, v)
}

// RawJSON is a response or payload that is already JSON text; it is written
// as is.
type RawJSON []byte

// Binary is a response or payload sent as raw bytes in a V2 binary frame.
// V1 clients and LongPoll cannot receive it.
type Binary []byte

// Empty is the {} response.
var Empty = RawJSON("{}")

// encodeValue turns an app value into payload bytes. nil becomes {}.
func encodeValue(v any) (data []byte, binary bool, err error) {
	switch x := v.(type) {
	case nil:
		return Empty, false, nil
	case RawJSON:
		if len(x) == 0 {
			return Empty, false, nil
		}
		return x, false, nil
	case Binary:
		return x, true, nil
	case Payload:
		if len(x.data) == 0 && !x.binary {
			return Empty, false, nil
		}
		return x.data, x.binary, nil
	case *Payload:
		return encodeValue(*x)
	}
	data, err = json.Marshal(v)
	if err != nil {
		return nil, false, fmt.Errorf("phx: encode payload: %w", err)
	}
	return data, false, nil
}

// encodeObject is encodeValue for pushes and broadcasts, whose JSON payload
// must be an object.
func encodeObject(v any) ([]byte, bool, error) {
	data, binary, err := encodeValue(v)
	if err != nil || binary {
		return data, binary, err
	}
	if !isJSONObject(data) {
		return nil, false, ErrPayloadNotObject
	}
	return data, false, nil
}

func isJSONObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}
