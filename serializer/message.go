package serializer

// Kind tells which of Phoenix's frame shapes a Message takes. It matters for
// V2 binary frames, whose layout differs per kind, and for replies, whose
// text payload is wrapped as {"response":…,"status":…}.
type Kind uint8

const (
	// KindPush is a client→server push (any event) or a server→client push
	// (Channel.push: join_ref set, ref null).
	KindPush Kind = iota
	// KindReply is a server→client phx_reply. Status holds the reply status
	// and Payload the response (raw JSON, or bytes when Binary).
	KindReply
	// KindBroadcast is a server→client fan-out message: join_ref and ref null.
	KindBroadcast
)

// Reserved topic and events of the protocol.
const (
	TopicPhoenix      = "phoenix"
	EventJoin         = "phx_join"
	EventLeave        = "phx_leave"
	EventReply        = "phx_reply"
	EventClose        = "phx_close"
	EventError        = "phx_error"
	EventHeartbeat    = "heartbeat"
	EventConnectError = "phx_connect_error"
)

// Message is one logical Phoenix message.
//
// JoinRef and Ref hold the raw JSON value exactly as received (for example
// `"5"`, `5` or `null`); nil means null. They are echoed byte for byte. A
// ref decoded from a binary frame is stored as a JSON string.
//
// Payload is raw JSON text unless Binary is set, in which case it is the raw
// bytes. For KindReply it is the reply's response (not the
// {"status","response"} wrapper), and Status holds the status.
//
// Phoenix accepts any JSON value as a client's topic or event, not only a
// string: [null,"1",42,"phx_join",{}] is answered, not refused. Such a value
// is kept as raw JSON in RawTopic or RawEvent, with Topic or Event left "".
//
// A decoded Message may alias the frame it was decoded from: the caller must
// not reuse that frame's memory while the Message is in use.
type Message struct {
	Kind    Kind
	JoinRef []byte
	Ref     []byte
	Topic   string
	Event   string
	Status  string
	Payload []byte
	Binary  bool
	// RawTopic is the topic's raw JSON when a client sent a value that is
	// not a string (nil otherwise); Topic is then "". Encode writes it in
	// place of Topic, so that a reply echoes exactly what the client sent;
	// in a binary header it is written as its JSON text.
	RawTopic []byte
	// RawEvent is the same for the event: raw JSON of a value that is not
	// a string, with Event "".
	RawEvent []byte
}

// HasStringTopic reports whether the topic was a JSON string (always true
// for binary frames and for messages built by the server).
func (m *Message) HasStringTopic() bool { return m.RawTopic == nil }

// HasStringEvent reports whether the event was a JSON string.
func (m *Message) HasStringEvent() bool { return m.RawEvent == nil }
