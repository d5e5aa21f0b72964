package compare

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/phxgo/phxgo/serializer"
)

// Dir says what an entry of a transcript is.
type Dir uint8

const (
	// Send is a frame the client sent.
	Send Dir = iota
	// Recv is a frame the client received.
	Recv
	// Info is something that is not a frame: a connect's outcome, a close,
	// a timed-out wait.
	Info
)

var dirMarks = [...]string{"->", "<-", "**"}

// Msg is one Phoenix message as generic JSON values, so that rules can
// rewrite any part of it. Replies keep their wrapper: Event is "phx_reply"
// and Payload is {"response":…,"status":…}. JoinRef and Ref are nil for
// null.
type Msg struct {
	JoinRef, Ref any
	Topic, Event string
	Payload      any
	Binary       bool // Payload is a "<binary …>" description of raw bytes
}

// Entry is one line of a transcript.
type Entry struct {
	Client int
	Dir    Dir
	Msg    Msg    // Send and Recv
	Info   string // Info
}

// Step is what one action of the scenario produced: its title and every
// entry recorded until the servers went quiet.
type Step struct {
	Title   string
	Entries []Entry
}

// Transcript is the record of one side's run.
type Transcript struct {
	URL     string
	Clients []string // client names, "group#n"
	Steps   []Step
}

// msgFromServer converts a decoded server frame.
func msgFromServer(m *serializer.Message) (Msg, error) {
	out := Msg{Topic: m.Topic, Event: m.Event, Binary: m.Binary}
	var err error
	if out.JoinRef, err = decodeJSON(m.JoinRef); err != nil {
		return out, err
	}
	if out.Ref, err = decodeJSON(m.Ref); err != nil {
		return out, err
	}
	var p any
	if m.Binary {
		p = binaryText(m.Payload)
	} else if p, err = decodeJSON(m.Payload); err != nil {
		return out, err
	}
	if m.Kind == serializer.KindReply {
		out.Event = serializer.EventReply
		p = map[string]any{"response": p, "status": m.Status}
	}
	out.Payload = p
	return out, nil
}

// binaryText describes raw payload bytes.
func binaryText(b []byte) string { return "<binary " + hex.EncodeToString(b) + ">" }

// decodeJSON decodes raw JSON, keeping numbers exact; nil or empty is null.
func decodeJSON(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// encodeJSON writes v compactly, object keys sorted, without HTML escaping.
func encodeJSON(v any) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// Text renders the message in the V2 array shape, whatever the serializer.
func (m Msg) Text() string {
	return encodeJSON([]any{m.JoinRef, m.Ref, m.Topic, m.Event, m.Payload})
}

// Line renders an entry for the transcript.
func (t *Transcript) Line(e *Entry) string {
	body := e.Info
	if e.Dir != Info {
		body = e.Msg.Text()
	}
	return fmt.Sprintf("  %s %s %s", t.Clients[e.Client], dirMarks[e.Dir], body)
}

// Lines renders the transcript, one step header and its entries at a time.
// Entries of one step appear client by client (in the scenario's client
// order), each client's in the order recorded: which client a server
// happened to write to first is not part of the comparison.
func (t *Transcript) Lines() []string {
	var out []string
	for i := range t.Steps {
		s := &t.Steps[i]
		out = append(out, "== "+s.Title)
		for c := range t.Clients {
			for j := range s.Entries {
				if s.Entries[j].Client == c {
					out = append(out, t.Line(&s.Entries[j]))
				}
			}
		}
	}
	return out
}
