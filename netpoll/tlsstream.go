package netpoll

import (
	"io"
	"net"
	"sync"
	"time"
)

// tlsStream is the net.Conn a TLS connection is handed to net/http with
// (plain HTTP requests, LongPoll): blocking reads and writes over the
// accepted connection, through the same record state the event loop used
// for the request head (the handshake is long over; crypto/tls is not
// involved again; Request.TLS is rebuilt from the handshake's
// parameters, tlsstate.go). Reads and writes may run concurrently
// (net/http's background read): each direction has its own lock.
type tlsStream struct {
	net.Conn

	rmu    sync.Mutex
	rd     halfConn
	recBuf        // ciphertext
	plain  []byte // decrypted and not yet returned (inside buf)
	rerr   error  // close_notify (io.EOF) or a failure: sticky

	wmu     sync.Mutex
	wr      halfConn
	wbuf    []byte
	pending []byte // sealed on the loop and not yet written: first on the wire
	werr    error
	closed  sync.Once

	info tlsInfo // Request.TLS of its requests (tlsstate.go)
}

// netConn is the connection net/http gets for a handed-off request.
func (c *Conn) netConn() net.Conn {
	base := newFDConn(c.fd, c.peer)
	t := c.tls
	if t == nil {
		return base
	}
	s := &tlsStream{Conn: base, rd: t.rd, wr: t.wr, recBuf: recBuf{buf: make([]byte, maxRecordLen+4096)}, info: t.info}
	if t.outOff < len(t.out) {
		// KeyUpdate answers sealed during the head that the socket did
		// not take: written before anything else, by net/http's
		// goroutine under its write deadline, never here on the worker
		// (a peer that does not read would block it).
		s.pending = append([]byte(nil), t.out[t.outOff:]...)
		putOut(t.out)
		t.out, t.outOff = nil, 0
	}
	s.w = copy(s.buf, t.part)
	if t.part != nil {
		putPart(t.part)
	}
	c.tls = nil
	return s
}

func (s *tlsStream) Read(p []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for len(s.plain) == 0 {
		if s.rerr != nil {
			return 0, s.rerr
		}
		n, err := recordLen(s.buf[s.r:s.w])
		if err != nil {
			s.fail(err)
			continue
		}
		if n > 0 && s.w-s.r >= n {
			s.record(s.take(n))
			continue
		}
		if err := s.readMore(s.Conn); err != nil {
			return 0, err // timeouts are not sticky: net/http retries
		}
	}
	n := copy(p, s.plain)
	s.plain = s.plain[n:]
	return n, nil
}

// record acts on one complete record read.
func (s *tlsStream) record(rec []byte) {
	plain, typ, err := s.rd.open(rec)
	switch {
	case err != nil:
		s.fail(err)
	case typ == recAppData:
		s.plain = plain
	case typ == recAlert && len(plain) == 2 && plain[1] == alertCloseNotify:
		s.rerr = io.EOF
	case typ == recAlert:
		s.rerr = errTLSAlert
	case typ == recHandshake:
		update, requested, err := keyUpdates(plain)
		if err != nil || !update {
			s.fail(tlsFailure(errTLSUnsupp, alertUnexpectedMessage))
			return
		}
		if err := s.rd.update(); err != nil {
			s.fail(err)
			return
		}
		if requested {
			s.wmu.Lock()
			s.writeRecord(recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 0})
			if err := s.wr.update(); err != nil && s.werr == nil {
				s.werr = err
			}
			s.wmu.Unlock()
		}
	default:
		s.fail(tlsFailure(errTLSUnsupp, alertUnexpectedMessage))
	}
}

// fail ends reading after a record-layer error, with the alert it calls for.
func (s *tlsStream) fail(err error) {
	s.rerr = err
	if te, ok := err.(*tlsError); ok && te.alert != 0xff {
		s.wmu.Lock()
		s.writeRecord(recAlert, []byte{2, te.alert})
		s.wmu.Unlock()
	}
}

// writePending writes the ciphertext sealed on the loop (wmu held).
func (s *tlsStream) writePending() error {
	if s.werr == nil && len(s.pending) > 0 {
		_, s.werr = s.Conn.Write(s.pending)
		s.pending = nil
	}
	return s.werr
}

// writeRecord seals and writes one record (wmu held).
func (s *tlsStream) writeRecord(typ uint8, p []byte) {
	if s.writePending() != nil {
		return
	}
	s.wbuf = s.wr.seal(s.wbuf[:0], typ, p)
	_, s.werr = s.Conn.Write(s.wbuf)
}

func (s *tlsStream) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writePending(); err != nil {
		return 0, err
	}
	n := 0
	for n < len(p) {
		s.wbuf = s.wbuf[:0]
		sl := sealer{out: s.wbuf, wr: &s.wr}
		k := min(len(p)-n, sealBatch)
		sl.add(p[n : n+k])
		sl.close()
		s.wbuf = sl.out
		if _, err := s.Conn.Write(s.wbuf); err != nil {
			s.werr = err
			return n, err
		}
		n += k
	}
	if cap(s.wbuf) > 2*sealBatch {
		s.wbuf = nil
	}
	return n, nil
}

// closeNotify sends close_notify once, within a second.
func (s *tlsStream) closeNotify() {
	s.closed.Do(func() {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		_ = s.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		s.writeRecord(recAlert, []byte{1, alertCloseNotify})
	})
}

func (s *tlsStream) Close() error {
	s.closeNotify()
	return s.Conn.Close()
}

// CloseWrite keeps net/http's lingering close: close_notify, then FIN.
func (s *tlsStream) CloseWrite() error {
	s.closeNotify()
	if cw, ok := s.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
