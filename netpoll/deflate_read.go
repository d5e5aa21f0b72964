package netpoll

import (
	"compress/flate"
	"errors"
	"io"
	"sync"

	"github.com/gobwas/ws"
)

// Errors of compressed input.
var (
	errRsvBits = errors.New("RSV2/RSV3 set, or RSV1 outside the first frame of a data message")
	errInflate = errors.New("invalid compressed data")
)

// rxHeaderState is parseHeader's hook: the ws.CheckHeader state bits a
// compressing connection adds (RSV bits are checked by deflateHeader).
func (c *Conn) rxHeaderState() ws.State {
	if c.has(fDeflate) {
		return ws.StateExtended
	}
	return 0
}

// deflateHeader is parseHeader's other hook, after ws.CheckHeader: RSV1 is
// allowed only on the first frame of a data message of a compressing
// connection, where it marks the whole message compressed; RSV2 and RSV3
// never (RFC 7692 §6). Control frames with RSV1 fail with 1002.
func (rx *rxState) deflateHeader(h ws.Header) error {
	if h.Rsv == 0 {
		if h.OpCode == ws.OpText || h.OpCode == ws.OpBinary {
			rx.rsv1 = false
		}
		return nil
	}
	if h.Rsv != 0x4 || (h.OpCode != ws.OpText && h.OpCode != ws.OpBinary) {
		return errRsvBits
	}
	rx.rsv1 = true
	return nil
}

// inflater is a pooled decompressor with the reader that feeds it one
// message. It is taken for one message and put back right after, so an
// idle connection holds no window (compress/flate's is 32 KiB).
type inflater struct {
	fr  io.ReadCloser // flate's decompressor, also a flate.Resetter
	src msgSource
}

var inflaters sync.Pool

// msgSource reads a compressed message followed by the sync-flush tail
// RFC 7692 §7.2.2 appends; it is an io.ByteReader so that flate reads it
// without a bufio.Reader of its own.
type msgSource struct {
	p    []byte
	tail int // bytes of deflateTail already read
}

func (m *msgSource) Read(b []byte) (int, error) {
	if len(m.p) > 0 {
		n := copy(b, m.p)
		m.p = m.p[n:]
		return n, nil
	}
	if m.tail == len(deflateTail) {
		return 0, io.EOF
	}
	n := copy(b, deflateTail[m.tail:])
	m.tail += n
	return n, nil
}

func (m *msgSource) ReadByte() (byte, error) {
	if len(m.p) > 0 {
		b := m.p[0]
		m.p = m.p[1:]
		return b, nil
	}
	if m.tail == len(deflateTail) {
		return 0, io.EOF
	}
	m.tail++
	return deflateTail[m.tail-1], nil
}

func (m *msgSource) done() bool { return len(m.p) == 0 && m.tail == len(deflateTail) }

// inflateMsg decompresses a complete message. The inflated size counts
// against MaxFrameSize while it is produced: the output never grows past
// MaxFrameSize+1 bytes, however much the input would inflate to. On
// failure it fails the connection (1009 too big, 1007 corrupt) and
// returns nil.
func (w *worker) inflateMsg(c *Conn, in []byte) []byte {
	out, err := inflate(in, c.s.cfg.MaxFrameSize)
	switch {
	case err == errTooBig:
		w.fail(c, CloseTooBig, "message too big")
		return nil
	case err != nil:
		w.fail(c, CloseInvalidPayload, errInflate.Error())
		return nil
	}
	return out
}

var errTooBig = errors.New("inflated message over the limit")

// inflate decompresses in (a permessage-deflate message without its tail)
// into a new slice of at most limit bytes.
func inflate(in []byte, limit int64) ([]byte, error) {
	inf, _ := inflaters.Get().(*inflater)
	if inf == nil {
		inf = &inflater{}
		inf.src.p = in
		inf.fr = flate.NewReader(&inf.src)
	} else {
		inf.src = msgSource{p: in}
		_ = inf.fr.(flate.Resetter).Reset(&inf.src, nil)
	}
	defer func() {
		inf.src = msgSource{} // do not pin the message
		inflaters.Put(inf)
	}()
	// Start from a guess (text compresses 3–10×) and grow by doubling,
	// never past limit+1: one byte over is enough to know.
	out := make([]byte, 0, min(int64(4*len(in)+64), limit+1))
	for {
		if len(out) == cap(out) {
			if int64(len(out)) > limit {
				return nil, errTooBig
			}
			grown := make([]byte, len(out), min(int64(2*cap(out)), limit+1))
			copy(grown, out)
			out = grown
		}
		n, err := inf.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			return nil, errTooBig
		}
		switch {
		case err == nil:
		case err == io.EOF, err == io.ErrUnexpectedEOF && inf.src.done():
			return out, nil
		default:
			return nil, err
		}
	}
}
