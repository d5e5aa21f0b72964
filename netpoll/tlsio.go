package netpoll

import (
	"errors"
	"sync"
)

// tlsConn is the record state of a TLS connection on the event loop. It
// belongs to the connection's task (reads, flushes), like rx: every write
// of a TLS connection goes through the flush (SendNow queues), so the
// write sequence number never sees two writers. An idle connection holds
// only this (keys, IVs, sequence numbers): part and out are pooled and
// taken only while a record is incomplete or ciphertext is unwritten.
type tlsConn struct {
	rd, wr halfConn
	part   []byte // ciphertext not yet decrypted: an incomplete record, or what followed the handshake
	out    []byte // sealed records not yet written: out[outOff:]
	outOff int
	kuOut  int     // bytes of KeyUpdate answers in out since it was last empty
	closed bool    // close_notify or a failure: nothing more is read
	info   tlsInfo // version, suite, SNI: Request.TLS if handed to net/http
}

// sealBatch is the plaintext one flush round seals before it writes.
const sealBatch = 64 << 10

var (
	partPool = sync.Pool{New: func() any { b := make([]byte, 0, maxRecordLen+2048); return &b }}
	outPool  = sync.Pool{New: func() any {
		b := make([]byte, 0, sealBatch+(sealBatch/maxPlainLen+2)*recOverhead)
		return &b
	}}
)

func getPart() []byte { return (*partPool.Get().(*[]byte))[:0] }
func getOut() []byte  { return (*outPool.Get().(*[]byte))[:0] }

func putPart(b []byte) {
	if cap(b) >= maxRecordLen && cap(b) <= 2*maxRecordLen+4096 {
		b = b[:0]
		partPool.Put(&b)
	}
}

func putOut(b []byte) {
	if cap(b) >= sealBatch && cap(b) <= 2*sealBatch {
		b = b[:0]
		outPool.Put(&b)
	}
}

// input is one read of c's socket into the worker's buffer: it returns
// the bytes read, the plaintext to parse, whether the read got less than
// it asked for (then the socket was drained: with edge-triggered epoll,
// only a read that came back short may end a read task without
// scheduling another) and the read error. Without TLS
// the plaintext is what was read. With TLS, the ciphertext kept from the
// last read goes first, complete records are decrypted in place (their
// plaintext packed at the start of the buffer) and an incomplete one is
// kept; a TLS failure is returned as the error once the plaintext before
// it was returned, after the alert it deserves was sent.
func (w *worker) input(c *Conn) (n int, p []byte, short bool, err error) {
	t := c.tls
	if t == nil {
		n, err = w.sysRead(c, w.buf)
		return n, w.buf[:n], n < len(w.buf), err
	}
	if t.closed {
		return 0, nil, true, errTLSClosed
	}
	// The incomplete record kept from the last read goes first, so this
	// read asks for less than a whole buffer.
	k := copy(w.buf, t.part)
	if t.part != nil {
		putPart(t.part)
		t.part = nil
	}
	n, err = w.sysRead(c, w.buf[k:])
	short = n < len(w.buf)-k
	p, terr := t.openAll(c, w.buf[:k+n])
	if terr != nil {
		t.closed = true
		var te *tlsError
		if errors.As(terr, &te) && te.alert != 0xff {
			w.tlsAlert(c, te.alert)
		}
		return n, p, true, terr
	}
	return n, p, short, err
}

// openAll decrypts the complete records of data in place and returns
// their application data, packed at the start of data.
func (t *tlsConn) openAll(c *Conn, data []byte) ([]byte, error) {
	out, off := 0, 0
	for off < len(data) {
		n, err := recordLen(data[off:])
		if err != nil {
			return data[:out], err
		}
		if n == 0 || len(data)-off < n {
			t.part = append(getPart(), data[off:]...)
			break
		}
		plain, typ, err := t.rd.open(data[off : off+n])
		off += n
		if err != nil {
			return data[:out], err
		}
		switch typ {
		case recAppData:
			out += copy(data[out:], plain)
		case recAlert:
			if len(plain) == 2 && plain[1] == alertCloseNotify {
				return data[:out], tlsFailure(errTLSClosed, 0xff)
			}
			return data[:out], tlsFailure(errTLSAlert, 0xff)
		case recHandshake:
			if err := t.postHandshake(c, plain); err != nil {
				return data[:out], err
			}
		default:
			return data[:out], tlsFailure(errTLSUnsupp, alertUnexpectedMessage)
		}
	}
	return data[:out], nil
}

// maxKeyUpdateOut bounds the KeyUpdate answers waiting to be written: a
// peer that asks for them without reading is cut off.
const maxKeyUpdateOut = 4 << 10

// postHandshake handles a handshake record after the handshake: only
// KeyUpdate is accepted (new read keys; our own update first when asked).
func (t *tlsConn) postHandshake(c *Conn, msg []byte) error {
	update, requested, err := keyUpdates(msg)
	if err != nil || !update || t.rd.v12 { // TLS 1.2: no renegotiation
		return tlsFailure(errTLSUnsupp, alertUnexpectedMessage)
	}
	if err := t.rd.update(); err != nil {
		return tlsFailure(err, alertInternalError)
	}
	if !requested {
		return nil
	}
	// Only the answers count: the sealed records of a flush that wait
	// for the socket (up to sealBatch) are not the peer's doing.
	if t.kuOut > maxKeyUpdateOut {
		return tlsFailure(errors.New("netpoll: KeyUpdate requests not read"), alertUnexpectedMessage)
	}
	if t.out == nil {
		t.out = getOut()
	}
	n := len(t.out)
	t.out = t.wr.seal(t.out, recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 0})
	t.kuOut += len(t.out) - n
	if err := t.wr.update(); err != nil {
		return tlsFailure(err, alertInternalError)
	}
	c.mu.Lock()
	run := !c.flushPending && !c.blocked
	if run {
		c.flushPending = true
	}
	c.mu.Unlock()
	if run {
		c.s.schedule(c, bFlush)
	}
	return nil
}

// tlsAlert writes an alert record at once, best effort (unless sealed
// records wait: then the stream is cut and the close says the rest).
func (w *worker) tlsAlert(c *Conn, desc uint8) {
	t := c.tls
	if t.outOff < len(t.out) {
		return
	}
	level := uint8(2)
	if desc == alertCloseNotify {
		level = 1
	}
	var b [32]byte
	rec := t.wr.seal(b[:0], recAlert, []byte{level, desc})
	w.wr.add(rec)
	_, _, _ = w.wr.write(c)
}

// tlsCloseNotify sends close_notify before our FIN (nothing is queued).
func (w *worker) tlsCloseNotify(c *Conn) {
	if c.tls != nil && !c.tls.closed {
		w.tlsAlert(c, alertCloseNotify)
	}
}

// tlsPartial reports an incomplete record held: FrameTimeout applies to
// it as to a partial frame.
func (c *Conn) tlsPartial() bool { return c.tls != nil && c.tls.part != nil }

// tlsOutPending reports sealed records not yet written (flush only).
func (c *Conn) tlsOutPending() bool {
	return c.tls != nil && c.tls.outOff < len(c.tls.out)
}

// writeTLS is writeFrames for a TLS connection: first the sealed records
// a short write left (never sealed twice), then up to sealBatch bytes of
// queued frames sealed into records of at most 16 KiB and written. The
// frames count as written once sealed: written is in plaintext bytes, so
// the queue accounting is the same as without TLS; blocked reports
// ciphertext left for EPOLLOUT.
func (w *worker) writeTLS(c *Conn, q []outFrame, woff int) (written int, blocked bool, err error) {
	t := c.tls
	if t.outOff < len(t.out) {
		if blocked, err = w.writeOut(c, t); blocked || err != nil {
			return 0, blocked, err
		}
	}
	if len(q) == 0 {
		return 0, false, nil
	}
	sl := sealer{out: getOut(), wr: &t.wr}
	for seg := range w.queuedSegs(q, woff) {
		seg = seg[:min(len(seg), sealBatch-written)]
		sl.add(seg)
		if written += len(seg); written >= sealBatch {
			break
		}
	}
	sl.close()
	t.out, t.outOff = sl.out, 0
	blocked, err = w.writeOut(c, t)
	return written, blocked, err
}

// writeOut writes the sealed records with one write; what the socket did
// not take stays for the next flush.
func (w *worker) writeOut(c *Conn, t *tlsConn) (blocked bool, err error) {
	w.wr.add(t.out[t.outOff:])
	n, blocked, err := w.wr.write(c)
	t.outOff += n
	if t.outOff >= len(t.out) {
		putOut(t.out)
		t.out, t.outOff, t.kuOut = nil, 0, 0
	}
	return blocked, err
}

// sealer packs plaintext into application data records of at most
// maxPlainLen bytes, sealing each in place once full.
type sealer struct {
	out   []byte
	wr    *halfConn
	start int
	open  bool
}

func (s *sealer) add(p []byte) {
	for len(p) > 0 {
		if !s.open {
			s.start, s.open = len(s.out), true
			s.out = append(s.out, recAppData, 3, 3, 0, 0)
			s.out = append(s.out, make([]byte, s.wr.prefixLen()-recHeaderLen)...)
		}
		room := maxPlainLen - (len(s.out) - s.start - s.wr.prefixLen())
		k := min(room, len(p))
		s.out = append(s.out, p[:k]...)
		p = p[k:]
		if k == room {
			s.close()
		}
	}
}

func (s *sealer) close() {
	if s.open {
		s.out = s.wr.sealTail(s.out, s.start, recAppData)
		s.open = false
	}
}
