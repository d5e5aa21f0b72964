// Package serializer reads and writes the frames of the Phoenix Channels wire
// protocol, so that unmodified phoenix.js clients (and other Phoenix clients)
// can talk to a Go server.
//
// Three formats exist, chosen per socket by the vsn connect param (ParseVsn):
//
//   - V1 text: a JSON object. Clients send topic, event, payload and ref
//     (join_ref optional); the server writes event, payload, ref and topic,
//     in that order, never join_ref.
//   - V2 text: a JSON array [join_ref, ref, topic, event, payload];
//     elements after the fifth are ignored.
//   - V2 binary: a kind byte, one length byte per header field (each at most
//     255 bytes), the fields, then raw payload bytes. A client may only send
//     kind 0x00 (push); the server sends pushes, replies and broadcasts.
//
// Decode turns a client frame into a Message; Encode appends a server frame
// for a Message to a buffer; EncodeClient and DecodeServer are their mirror
// images, for test clients and load generators. Server output matches
// Phoenix 1.7 byte for byte, including the order of the reply wrapper's
// keys, {"response":…,"status":…}.
//
// As in Phoenix, a client's topic and event may be any JSON value, and its
// payload any JSON value: only frames Phoenix cannot decode either (not
// JSON, not valid UTF-8, the wrong outer shape, too few elements, a short
// binary header) are errors. A topic or event that is not a string is kept
// raw in Message.RawTopic or RawEvent, for the caller to refuse.
//
// # Refs
//
// Clients choose the JSON type of join_ref and ref (phoenix.js sends
// strings, other clients may send numbers), and replies must echo them
// exactly. Message therefore keeps them as raw JSON: `5` stays `5` and `"5"`
// stays `"5"`.
//
// # Cost
//
// Decoding validates the whole frame as strict JSON (RFC 8259, as Jason in
// Phoenix and JSON.parse in the browser require) without building any tree.
// Refs and payload alias the frame; only Topic and Event are allocated, so a
// typical push costs two small allocations. Encoding into a buffer with room
// allocates nothing, and a Cache encodes a broadcast once per format no
// matter how many sockets receive it.
//
// Untrusted input never panics and never causes an allocation larger than a
// small multiple of the frame: binary lengths are single bytes checked
// against the frame before use.
//
// json-iterator, through one frozen configuration, unescapes JSON strings;
// validation uses this package's own scanner and escaping its own writer
// (scan.go and json.go explain why).
package serializer
