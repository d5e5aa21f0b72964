package netpoll

import (
	"bytes"
	"compress/flate"
	"sync"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// DeflateConfig turns on permessage-deflate (RFC 7692). The zero value
// leaves it off: no extension is accepted and frames with RSV bits fail
// the connection, as without the extension.
//
// When on, the first permessage-deflate offer the server can honour is
// accepted with server_no_context_takeover and client_no_context_takeover,
// whatever the offer said about them (RFC 7692 lets a server add both).
// Neither side keeps a compression window between messages, so:
//
//   - a message the server compresses depends on nothing sent before it,
//     and one compressed frame can be shared by every connection (a
//     broadcast is compressed once, see Deflate and Conn.SendCompressed);
//   - the inflater that decodes a client's message is taken from a pool
//     for that message only: an idle connection holds no window.
//
// An offer that asks for server_max_window_bits below 15 is declined (the
// client may offer another; browsers and Node's ws never ask for it):
// compress/flate always uses a 32 KiB window, and Huffman-only output for
// those few clients was not worth a second shared encoding. An offer with
// an unknown, repeated or invalid parameter is declined (RFC 7692 §5); a
// Sec-WebSocket-Extensions header that does not parse is answered 400.
type DeflateConfig struct {
	Enabled bool
	// MinSize is the smallest message payload Send compresses (default
	// 128 bytes); smaller ones go out uncompressed (RSV1 clear), which the
	// extension allows message by message.
	MinSize int
	// Level is the compress/flate level (default flate.BestSpeed).
	Level int
}

// Defaults of DeflateConfig.
const (
	DefaultDeflateMinSize = 128
	DefaultDeflateLevel   = flate.BestSpeed
)

// fDeflate is the Conn.flags bit of a connection that negotiated
// permessage-deflate; set before it opens, never cleared. It is the top
// bit so that it stays clear of conn.go's iota flags.
const fDeflate uint32 = 1 << 31

// rsv1Op marks a queued frame whose payload is compressed: the header
// writer puts it in the first byte with the opcode, where it is RSV1.
const rsv1Op = 0x40

func (d DeflateConfig) withDefaults() DeflateConfig {
	if d.MinSize <= 0 {
		d.MinSize = DefaultDeflateMinSize
	}
	if d.Level == 0 || d.Level < flate.HuffmanOnly || d.Level > flate.BestCompression {
		d.Level = DefaultDeflateLevel
	}
	return d
}

// Compressing reports whether c negotiated permessage-deflate.
func (c *Conn) Compressing() bool { return c.has(fDeflate) }

// SendCompressed is Send for a payload already compressed by Deflate: it
// goes out as is with RSV1 set. It fails with ErrBadOpCode on a connection
// that did not negotiate the extension. The payload may be shared by any
// number of connections.
func (c *Conn) SendCompressed(op OpCode, deflated []byte) error {
	if (op != OpText && op != OpBinary) || !c.has(fDeflate) {
		return ErrBadOpCode
	}
	return c.enqueue(uint8(op)|rsv1Op, deflated)
}

// deflateOut is Send's hook: on a compressing connection a payload of at
// least MinSize bytes is compressed and marked RSV1.
func (c *Conn) deflateOut(op OpCode, p []byte) (uint8, []byte) {
	if !c.has(fDeflate) || len(p) < c.s.cfg.Deflate.MinSize {
		return uint8(op), p
	}
	return uint8(op) | rsv1Op, Deflate(p, c.s.cfg.Deflate.Level)
}

// deflateTail is what a sync flush ends with; RFC 7692 §7.2.1 removes it
// from every message and the receiver appends it again.
var deflateTail = []byte{0, 0, 0xff, 0xff}

type deflater struct {
	w   *flate.Writer
	buf bytes.Buffer
}

// deflaters pools one compressor per level (a flate.Writer allocates 0.7–1.2
// MB): only messages being compressed right now hold one.
var deflaters [flate.BestCompression - flate.HuffmanOnly + 1]sync.Pool

// Deflate compresses one message as permessage-deflate without context
// takeover: the result decodes alone, so it may be sent to any connection
// that negotiated the extension (Conn.SendCompressed). level is a
// compress/flate level (0 or an invalid one: DefaultDeflateLevel). The
// returned slice is new and exactly sized.
func Deflate(p []byte, level int) []byte {
	if level == 0 || level < flate.HuffmanOnly || level > flate.BestCompression {
		level = DefaultDeflateLevel
	}
	pool := &deflaters[level-flate.HuffmanOnly]
	d, _ := pool.Get().(*deflater)
	if d == nil {
		d = &deflater{}
		d.w, _ = flate.NewWriter(&d.buf, level) // level checked above
	} else {
		d.w.Reset(&d.buf)
	}
	_, _ = d.w.Write(p) // writes to a bytes.Buffer cannot fail
	_ = d.w.Flush()
	out := d.buf.Bytes()
	out = bytes.TrimSuffix(out, deflateTail)
	res := append(make([]byte, 0, len(out)), out...)
	if d.buf.Cap() > 64<<10 { // do not keep a big message's buffer pooled
		d.buf = bytes.Buffer{}
	}
	d.buf.Reset()
	pool.Put(d)
	return res
}

// negotiateDeflate returns the ws.Upgrader Negotiate callback of one
// handshake (nil when compression is off); *accepted is set when it
// accepted an offer.
func (s *Server) negotiateDeflate(accepted *bool) func(httphead.Option) (httphead.Option, error) {
	if !s.cfg.Deflate.Enabled {
		return nil
	}
	return func(opt httphead.Option) (httphead.Option, error) {
		if *accepted || !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) || !deflateOfferOK(opt) {
			return httphead.Option{}, nil
		}
		*accepted = true
		return deflateAnswer, nil
	}
}

// deflateAnswer is the accepted parameters: no context takeover either way.
var deflateAnswer = wsflate.Parameters{ServerNoContextTakeover: true,
	ClientNoContextTakeover: true}.Option()

// deflateOfferOK reports whether one permessage-deflate offer can be
// accepted: its parameters are known, valid and not repeated (wsflate's
// parser misses a repeated client_max_window_bits without a value), and it
// does not limit our window below 32 KiB. The client's window size needs
// no answer: our inflater decodes any window up to 32 KiB.
func deflateOfferOK(opt httphead.Option) bool {
	var p wsflate.Parameters
	if err := p.Parse(opt); err != nil {
		return false
	}
	seen := map[string]bool{}
	dup := false
	opt.Parameters.ForEach(func(k, _ []byte) bool {
		dup = dup || seen[string(k)]
		seen[string(k)] = true
		return !dup
	})
	return !dup && (!p.ServerMaxWindowBits.Defined() || p.ServerMaxWindowBits == 15)
}
