package compat_test

// Malformed input: each case must close only the offending socket, with a
// close code that names the fault (RFC 6455 §7.4.1: 1007 invalid data,
// 1002 protocol error, 1009 too big), while another joined client on the
// same server keeps working.

import (
	"bytes"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// maxFrame is phxd's default -max-frame (1 MiB); the oversized case sends
// twice that. The suite starts its own server with the flag spelled out.
const maxFrame = 1 << 20

type badInput struct {
	name  string
	code  ws.StatusCode
	frame func() []byte // the complete wire bytes to write (client frames are masked unless said otherwise)
}

func maskedFrame(op ws.OpCode, payload []byte) []byte {
	return ws.MustCompileFrame(ws.MaskFrame(ws.NewFrame(op, true, payload)))
}

func badInputs(topic string) []badInput {
	text := func(s string) func() []byte { return func() []byte { return maskedFrame(ws.OpText, []byte(s)) } }
	bin := func(b []byte) func() []byte { return func() []byte { return maskedFrame(ws.OpBinary, b) } }
	return []badInput{
		{"invalid JSON", ws.StatusInvalidFramePayloadData, text(`["1","2","` + topic + `","echo",{`)},
		{"JSON array of 3 elements", ws.StatusInvalidFramePayloadData, text(`["1","2","` + topic + `"]`)},
		{"JSON object on a V2 socket", ws.StatusInvalidFramePayloadData, text(`{"topic":"` + topic + `","event":"echo","payload":{},"ref":"2"}`)},
		// A topic or event that is not a string is not bad input: Phoenix
		// answers it (phx's fidelity tests cover the replies).
		{"invalid UTF-8 text frame", ws.StatusInvalidFramePayloadData, func() []byte {
			return maskedFrame(ws.OpText, []byte("[\"1\",\"2\",\""+topic+"\",\"echo\",{\"s\":\"\xff\xfe\"}]"))
		}},
		{"unknown binary kind", ws.StatusProtocolError, bin(append([]byte{7, 1, 1, byte(len(topic)), 4}, "12"+topic+"echo\x01"...))},
		{"binary reply kind from a client", ws.StatusProtocolError, bin(binReply("1", "2", topic, "ok", []byte{1}))},
		{"binary header overrun", ws.StatusProtocolError, bin([]byte{0, 10, 10, 200, 4, '1', '2', 'r'})},
		{"binary header truncated", ws.StatusProtocolError, bin([]byte{0, 1})},
		{"unmasked frame", ws.StatusProtocolError, func() []byte {
			return ws.MustCompileFrame(ws.NewTextFrame([]byte(v2(q("1"), q("2"), topic, "echo", `{}`))))
		}},
		{"oversized frame", ws.StatusMessageTooBig, func() []byte {
			payload := `["1","2","` + topic + `","echo",{"pad":"` + string(bytes.Repeat([]byte("x"), 2*maxFrame)) + `"}]`
			return maskedFrame(ws.OpText, []byte(payload))
		}},
	}
}

func TestWireBadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-max-frame", "1048576")

	// The bystander: joined on its own topic, checked after every case.
	by := uniq("bystander")
	bystander := dialRaw(t, srv, "token=user:"+by+"&vsn=2.0.0")
	bystander.join("room:"+by, "1")
	ref := 1

	for _, tc := range badInputs("room:probe") {
		// Sequential on purpose: the bystander is checked after each case.
		t.Run(tc.name, func(t *testing.T) {
			id := uniq("bad")
			topic := "room:" + id
			c := dialRaw(t, srv, "token=user:"+id+"&vsn=2.0.0")
			c.join(topic, "1")

			frame := tc.frame()
			written := make(chan error, 1)
			go func() { written <- c.writeRaw(frame) }() // may block: the server stops reading

			f, before := c.expectClose(frameWait)
			if len(before) != 0 {
				t.Errorf("frames before the close: %v (a bad frame must not be half-processed)", before)
			}
			if f.Code != tc.code {
				t.Errorf("close code %d (reason %q), want %d", f.Code, f.Reason, tc.code)
			}
			if len(f.Reason) > 123 {
				t.Errorf("close reason is %d bytes, the limit is 123", len(f.Reason))
			}
			c.close() // unblocks a pending write
			select {
			case <-written:
			case <-time.After(10 * time.Second):
				t.Errorf("the write of the bad frame never returned")
			}

			// Only that socket: the bystander still works.
			bystander.t = t
			ref++
			bystander.echo("room:"+by, "1", itoa(ref), `{"after":`+q(tc.name)+`}`)
		})
	}
}

func itoa(n int) string {
	return string(mustJSON(n))
}
