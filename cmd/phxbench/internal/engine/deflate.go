package engine

import (
	"errors"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
)

// permessage-deflate (-compress, the scenario's "compress"): every WebSocket
// client offers it as a browser does, and a client whose server agreed
// inflates the messages that arrive with RSV1. Its own frames go out
// uncompressed (RFC 7692 allows it message by message). The engine has one
// inflater for all its sockets, reset per message: an idle socket holds no
// decompressor, and a client struct grows by one byte of flags. Only a
// server that keeps its context between messages (it did not answer
// server_no_context_takeover) makes the engine keep, for each such socket,
// the last 32 KiB it inflated (e.window), the window the server's next
// message may refer back into.

// testOnMessage, set only by tests, sees every data message's payload as
// the engine decodes it (inflated when it arrived compressed).
var testOnMessage func(payload []byte, binary bool)

// Client deflate flags (client.deflate).
const (
	dfOn       uint8 = 1 << iota // negotiated on this connection
	dfTakeover                   // the server keeps its context: keep c.window
	dfFrag                       // the fragmented message being reassembled is compressed
)

// Compression is the run's permessage-deflate outcome (present when the
// clients offered it). Bytes are as received: on the wire, and with every
// compressed payload counted at its inflated size instead.
type Compression struct {
	Offered      int64   `json:"offered"`    // upgrades answered (101) to a request that offered permessage-deflate
	Negotiated   int64   `json:"negotiated"` // … whose server agreed
	Mode         string  `json:"mode"`       // deflate (every offer agreed), plain (none), mixed
	Messages     int64   `json:"messages"`   // messages received compressed (RSV1)
	PayloadWire  int64   `json:"payload_wire_bytes"`
	PayloadPlain int64   `json:"payload_inflated_bytes"`
	BytesWire    int64   `json:"bytes_in_wire"`     // all bytes received (counters.bytes_in)
	BytesPlain   int64   `json:"bytes_in_inflated"` // the same with compressed payloads inflated
	Ratio        float64 `json:"ratio"`             // bytes_in_inflated ÷ bytes_in_wire
}

// compressionOf derives the result's Compression from the counters; nil
// when nothing offered deflate.
func compressionOf(c *Counters) *Compression {
	if c.DeflateOffered == 0 {
		return nil
	}
	x := &Compression{Offered: c.DeflateOffered, Negotiated: c.DeflateNegotiated, Messages: c.MsgsInflated,
		PayloadWire: c.BytesDeflated, PayloadPlain: c.BytesInflated, BytesWire: c.BytesIn}
	x.BytesPlain = c.BytesIn - c.BytesDeflated + c.BytesInflated
	switch x.Negotiated {
	case 0:
		x.Mode = "plain"
	case x.Offered:
		x.Mode = "deflate"
	default:
		x.Mode = "mixed"
	}
	if x.BytesWire > 0 {
		x.Ratio = float64(x.BytesPlain) / float64(x.BytesWire)
	}
	return x
}

// deflateOffer is the Sec-WebSocket-Extensions value of c's upgrade request.
func (e *engine) deflateOffer() string {
	if !e.p.Scenario.Compress {
		return ""
	}
	return wire.DeflateOffer
}

// deflateAnswer reads the upgrade response's extensions (head is its
// header); false when it failed the client.
func (e *engine) deflateAnswer(c *client, head []byte) bool {
	d, err := wire.ParseDeflateAnswer(head, e.p.Scenario.Compress)
	if err != nil {
		e.fail(c, "connect:bad_extensions")
		return false
	}
	c.deflate = 0
	if e.p.Scenario.Compress {
		// Counted with its answer, so that a connect that failed before
		// one (refused, timed out) does not make the run look mixed.
		e.st.c.DeflateOffered++
	}
	if d.On {
		c.deflate = dfOn
		if d.ServerTakeover {
			c.deflate |= dfTakeover
			if e.window == nil {
				e.window = map[*client][]byte{}
			}
			e.window[c] = nil
		}
		e.st.c.DeflateNegotiated++
	}
	return true
}

// checkRSV fails c when a frame's reserved bits break RFC 6455 or 7692:
// RSV2/RSV3 ever, RSV1 without deflate negotiated, on a control frame or on
// a continuation. Returns false when it failed c.
func (e *engine) checkRSV(c *client, h *wire.FrameHeader) bool {
	if h.Rsv == 0 {
		return true
	}
	if h.Rsv == wire.RSV1 && c.deflate&dfOn != 0 && !h.Op.IsControl() && h.Op != ws.OpContinuation {
		return true
	}
	e.protocolError(c, "protocol:rsv")
	return false
}

// protocolError closes c with 1002 and fails it with kind.
func (e *engine) protocolError(c *client, kind string) {
	e.sendFrame(c, ws.OpClose, ws.NewCloseFrameBody(ws.StatusProtocolError, ""))
	e.fail(c, kind)
}

// inflate returns a compressed message's payload inflated (in the engine's
// buffer, valid until the next message); false when it failed c.
func (e *engine) inflate(c *client, payload []byte) ([]byte, bool) {
	var dict []byte
	if c.deflate&dfTakeover != 0 {
		dict = e.window[c]
	}
	out, err := e.infl.Inflate(e.ibuf, payload, dict, wire.MaxFrame)
	e.ibuf = out[:0]
	if err != nil {
		if errors.Is(err, wire.ErrInflatedTooLarge) {
			e.sendFrame(c, ws.OpClose, ws.NewCloseFrameBody(ws.StatusMessageTooBig, ""))
			e.fail(c, "frame_too_large")
			return nil, false
		}
		e.sendFrame(c, ws.OpClose, ws.NewCloseFrameBody(ws.StatusInvalidFramePayloadData, ""))
		e.fail(c, "inflate")
		return nil, false
	}
	e.st.c.MsgsInflated++
	e.st.c.BytesDeflated += int64(len(payload))
	e.st.c.BytesInflated += int64(len(out))
	if c.deflate&dfTakeover != 0 {
		e.window[c] = wire.KeepWindow(e.window[c], out)
	}
	return out, true
}
