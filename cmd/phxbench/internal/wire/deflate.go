package wire

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws/wsflate"
)

// permessage-deflate (RFC 7692) for the client side: the offer a browser
// makes, the reading of the server's answer, and an inflater that one
// engine shares among all its sockets (each message is inflated alone, so
// no socket holds a decompressor while it idles). Negotiation and the
// message tail come from gobwas/ws's wsflate; the inflating itself is
// compress/flate.

// DeflateOffer is the Sec-WebSocket-Extensions value Chromium and Firefox
// send: permessage-deflate with client_max_window_bits (the server may
// bound the client's window), and no context takeover asked for.
var DeflateOffer = func() string {
	var b bytes.Buffer
	p := wsflate.Parameters{ClientMaxWindowBits: 1} // 1: the parameter without a value
	_, _ = httphead.WriteOptions(&b, []httphead.Option{p.Option()})
	return b.String()
}()

var errExtension = errors.New("bad Sec-WebSocket-Extensions answer")

// Deflate is what the server's answer agreed on.
type Deflate struct {
	On bool // permessage-deflate is in use on this connection
	// ServerTakeover: the server did not promise server_no_context_takeover,
	// so each of its messages may refer back into the ones before (the
	// client then keeps the last 32 KiB it inflated as the next dictionary).
	ServerTakeover bool
	Params         wsflate.Parameters
}

// ParseDeflateAnswer reads the Sec-WebSocket-Extensions lines of an
// upgrade response header (head, up to its blank line). offered says
// whether the request offered permessage-deflate. Per RFC 7692 §5 the
// client fails the connection when the answer names an extension it did
// not offer, answers permessage-deflate more than once or with a parameter
// that is unknown, repeated or invalid.
func ParseDeflateAnswer(head []byte, offered bool) (Deflate, error) {
	var d Deflate
	var opts []httphead.Option
	for val := range headerValues(head, "Sec-WebSocket-Extensions") {
		var good bool
		if opts, good = httphead.ParseOptions(val, opts); !good {
			return d, fmt.Errorf("%w: %q does not parse", errExtension, val)
		}
	}
	for _, opt := range opts {
		if !bytes.Equal(opt.Name, wsflate.ExtensionNameBytes) || !offered {
			return d, fmt.Errorf("%w: %q was not offered", errExtension, opt.Name)
		}
		if d.On {
			return d, fmt.Errorf("%w: permessage-deflate answered twice", errExtension)
		}
		if err := d.Params.Parse(opt); err != nil {
			return d, fmt.Errorf("%w: %v", errExtension, err)
		}
		if v, ok := opt.Parameters.Get("client_max_window_bits"); ok && len(v) == 0 {
			// An answer must give the client's window a value (§7.1.2.2).
			return d, fmt.Errorf("%w: client_max_window_bits without a value", errExtension)
		}
		d.On = true
		d.ServerTakeover = !d.Params.ServerNoContextTakeover
	}
	return d, nil
}

// ErrInflatedTooLarge is returned when a message inflates past the limit.
var ErrInflatedTooLarge = errors.New("inflated message too large")

// Inflater inflates permessage-deflate messages one at a time. It is not
// safe for concurrent use: an engine (one goroutine) owns one and shares
// it among its sockets. It holds one flate decompressor (about 43 KiB:
// its 32 KiB window and tables), reset for every message.
type Inflater struct {
	src bytes.Reader
	fl  resetFlate
	r   *wsflate.Reader
}

// resetFlate is compress/flate's reader with the Reset wsflate.Reader
// calls, presetting the dictionary of the message about to be read.
type resetFlate struct {
	rc   io.ReadCloser
	dict []byte
}

func (f *resetFlate) Read(p []byte) (int, error) { return f.rc.Read(p) }

func (f *resetFlate) Reset(r io.Reader) {
	if f.rc == nil {
		f.rc = flate.NewReaderDict(r, f.dict)
		return
	}
	_ = f.rc.(flate.Resetter).Reset(r, f.dict)
}

// Inflate appends to dst[:0] the inflated form of one message's payload
// (the compressed bytes of all its frames, without the 0x00 0x00 0xff 0xff
// tail the sender removed), refusing to produce more than limit bytes: the
// output grows by doubling and stops at limit+1, so a message that would
// inflate to far more costs about twice the limit at most. dict is the
// window the sender's context refers to (nil with no context takeover).
func (in *Inflater) Inflate(dst, payload, dict []byte, limit int) ([]byte, error) {
	in.src.Reset(payload)
	in.fl.dict = dict
	if in.r == nil {
		in.r = wsflate.NewReader(&in.src, func(r io.Reader) wsflate.Decompressor {
			in.fl.Reset(r)
			return &in.fl
		})
	} else {
		in.r.Reset(&in.src)
	}
	dst = dst[:0]
	for {
		if len(dst) == cap(dst) { // grow by doubling, never past limit+1
			dst = slices.Grow(dst, min(max(512, cap(dst)), limit+1-len(dst)))
		}
		n, err := in.r.Read(dst[len(dst):min(cap(dst), limit+1)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, ErrInflatedTooLarge
		}
		switch {
		case err == io.EOF:
			return dst, nil
		case err != nil:
			return dst, err
		}
	}
}

// KeepWindow appends msg to the window a context-takeover sender refers
// back into, keeping its last 32 KiB.
func KeepWindow(window, msg []byte) []byte {
	const size = wsflate.MaxLZ77WindowSize
	if len(msg) >= size {
		return append(window[:0], msg[len(msg)-size:]...)
	}
	if over := len(window) + len(msg) - size; over > 0 {
		window = window[:copy(window, window[over:])]
	}
	return append(window, msg...)
}
