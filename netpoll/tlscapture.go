package netpoll

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
)

// recConn sits under a crypto/tls server connection and makes the
// connection's record state knowable, so that the event loop can carry
// it on after the handshake (or after net/http hijacked it):
//
//   - it hands crypto/tls one complete record at a time, so crypto/tls
//     never holds ciphertext past a record boundary: what it has not
//     asked for stays here (a record that is still arriving, too);
//   - it captures the TLS 1.3 traffic secrets through the config's
//     KeyLogWriter (this connection's own clone of the config) and the
//     suite from the ServerHello it writes;
//   - it follows both directions' sequence numbers: each application
//     record read is decrypted on a copy (so a KeyUpdate is seen), and
//     each one written is counted (decrypted only while a KeyUpdate
//     reply is due).
//
// After the switch crypto/tls must not touch the connection again.
type recConn struct {
	net.Conn
	suiteID  atomic.Uint32 // the ServerHello's cipher suite (0: not yet)
	mu       sync.Mutex    // guards secrets, random, keyErr
	secrets  [2][]byte     // client, server application traffic secret 0
	keyErr   error
	random   []byte      // client random of the lines above
	appLog   io.Writer   // the application's own KeyLogWriter, if any
	stopped  atomic.Bool // taken over: Read answers errTakenOver
	buf      []byte      // ciphertext read and not yet handed out: buf[r:w]
	r, w     int
	cur      []byte // rest of the record being handed to crypto/tls
	in, out  tracker
	wbroken  bool // a Write ended inside a record: the write side is unknown
	wScratch []byte
}

// errTakenOver is what crypto/tls reads once the connection was taken
// over; a timeout, so crypto/tls does not make it sticky.
var errTakenOver = &takenOver{}

type takenOver struct{}

func (*takenOver) Error() string   { return "netpoll: TLS connection taken over by the event loop" }
func (*takenOver) Timeout() bool   { return true }
func (*takenOver) Temporary() bool { return true }

func newRecConn(nc net.Conn) *recConn {
	return &recConn{Conn: nc, buf: make([]byte, maxRecordLen+2048)}
}

// configFor clones cfg for one connection: its KeyLogWriter feeds rc
// (and still the application's, if it set one), also on a config chosen
// by GetConfigForClient.
func (rc *recConn) configFor(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	rc.appLog = cfg.KeyLogWriter
	c.KeyLogWriter = keyLog{rc}
	if get := cfg.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			nc, err := get(hi)
			if nc == nil || err != nil {
				return nc, err
			}
			nc = nc.Clone()
			nc.KeyLogWriter = keyLog{rc}
			return nc, nil
		}
	}
	return c
}

// keyLog is the KeyLogWriter of one connection's config clone.
type keyLog struct{ rc *recConn }

func (k keyLog) Write(p []byte) (int, error) {
	k.rc.keyLine(p)
	if k.rc.appLog != nil {
		_, _ = k.rc.appLog.Write(p)
	}
	return len(p), nil
}

// Write follows the records crypto/tls writes, then writes them.
func (rc *recConn) Write(p []byte) (int, error) {
	rc.scanOut(p)
	return rc.Conn.Write(p)
}

// keyLine records the traffic secrets of one key log line
// ("LABEL <client random hex> <secret hex>").
func (rc *recConn) keyLine(p []byte) {
	f := bytes.Fields(p)
	if len(f) != 3 {
		return
	}
	i := -1
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		i = 0
	case "SERVER_TRAFFIC_SECRET_0":
		i = 1
	default:
		return
	}
	random, err1 := hex.DecodeString(string(f[1]))
	secret, err2 := hex.DecodeString(string(f[2]))
	if err1 != nil || err2 != nil {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.random != nil && !bytes.Equal(rc.random, random) {
		rc.keyErr = errors.New("netpoll: key log lines of two handshakes")
		return
	}
	rc.random, rc.secrets[i] = random, secret
}

// keys returns the suite and secret of a direction once both are known.
func (rc *recConn) keys(server bool) (*tlsSuite, []byte) {
	s, ok := suiteFor(uint16(rc.suiteID.Load()))
	if !ok {
		return nil, nil
	}
	i := 0
	if server {
		i = 1
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return s, rc.secrets[i]
}

// Read hands crypto/tls the next complete record (or the rest of it).
func (rc *recConn) Read(p []byte) (int, error) {
	for len(rc.cur) == 0 {
		if rc.stopped.Load() {
			return 0, errTakenOver
		}
		n, err := recordLen(rc.buf[rc.r:rc.w])
		if err != nil {
			return 0, err
		}
		if rc.w > rc.r && (rc.buf[rc.r] < recCCS || rc.buf[rc.r] > recAppData) {
			n = rc.w - rc.r // not TLS (plain HTTP?): let crypto/tls say so now
		}
		if n > 0 && rc.w-rc.r >= n {
			rc.cur = rc.buf[rc.r : rc.r+n]
			rc.r += n
			rc.in.see(rc.cur, rc, false)
			break
		}
		if rc.r > 0 {
			rc.w = copy(rc.buf, rc.buf[rc.r:rc.w])
			rc.r = 0
		}
		m, err := rc.Conn.Read(rc.buf[rc.w:])
		rc.w += m
		if err != nil && m == 0 {
			return 0, err
		}
	}
	n := copy(p, rc.cur)
	rc.cur = rc.cur[n:]
	return n, nil
}

// scanOut follows the records crypto/tls writes: the ServerHello's suite,
// then the application records (crypto/tls writes whole records).
func (rc *recConn) scanOut(p []byte) {
	for len(p) > 0 && !rc.wbroken {
		n, err := recordLen(p)
		if err != nil || n == 0 || n > len(p) {
			rc.wbroken = true
			return
		}
		rec := p[:n]
		p = p[n:]
		if rec[0] == recHandshake && rc.suiteID.Load() == 0 {
			rc.serverHello(rec[recHeaderLen:])
			continue
		}
		rc.out.see(rec, rc, true)
	}
}

// serverHello takes the cipher suite from a ServerHello (or a
// HelloRetryRequest, which names the same suite).
func (rc *recConn) serverHello(b []byte) {
	// type(1) length(3) legacy_version(2) random(32) session_id<1>
	if len(b) < 39 || b[0] != 2 {
		return
	}
	at := 38 + 1 + int(b[38])
	if len(b) >= at+2 {
		rc.suiteID.Store(uint32(b[at])<<8 | uint32(b[at+1]))
	}
}

// tracker follows one direction's record protection from the outside.
type tracker struct {
	h       halfConn
	ready   bool        // the application secret is installed
	app     bool        // an application-phase record was seen
	pending atomic.Bool // a KeyUpdate is due in this direction: decrypt to find it
	err     error       // lost track: the connection cannot be taken over
	scratch []byte
}

// see accounts for one complete record going in the direction of t.
func (t *tracker) see(rec []byte, rc *recConn, server bool) {
	if t.err != nil || rec[0] != recAppData {
		return
	}
	if !t.ready {
		s, secret := rc.keys(server)
		if secret == nil {
			return // a handshake record, before the application keys exist
		}
		if err := t.h.setSecret(s, secret); err != nil {
			t.err = err
			return
		}
		t.ready = true
	}
	if server && t.app && !t.pending.Load() {
		t.h.seq++ // our own record: only a KeyUpdate we were asked for changes keys
		return
	}
	t.scratch = append(t.scratch[:0], rec...)
	plain, typ, err := t.h.open(t.scratch)
	switch {
	case err != nil && !t.app:
		return // encrypted with the handshake keys
	case err != nil:
		t.err = err
		return
	}
	t.app = true
	if typ != recHandshake {
		return
	}
	update, requested, err := keyUpdates(plain)
	switch {
	case err != nil:
		t.err = err
	case update && server:
		t.pending.Store(false)
		t.err = t.h.update()
	case update:
		t.err = t.h.update()
		if requested {
			rc.out.pending.Store(true)
		}
	}
}

// keyUpdates scans the handshake messages of one record: whether it ends
// with a KeyUpdate and whether that asked for ours. Other messages are
// ignored by the tracker (crypto/tls judges them), but must be whole.
func keyUpdates(b []byte) (update, requested bool, err error) {
	for len(b) > 0 {
		if len(b) < 4 {
			return false, false, tlsFailure(errTLSUnsupp, alertDecodeError)
		}
		n := int(b[1])<<16 | int(b[2])<<8 | int(b[3])
		if len(b) < 4+n {
			return false, false, tlsFailure(errTLSUnsupp, alertDecodeError)
		}
		if b[0] == hsKeyUpdate {
			if n != 1 || b[4] > 1 || len(b) != 5 {
				return false, false, tlsFailure(errTLSUnsupp, alertDecodeError)
			}
			return true, b[4] == 1, nil
		}
		b = b[4+n:]
	}
	return false, false, nil
}

// takeOver ends crypto/tls's part: the record state of both directions
// and the ciphertext crypto/tls has not been given (what followed the
// last record it read).
func (rc *recConn) takeOver() (*tlsConn, error) {
	rc.stopped.Store(true)
	rc.mu.Lock()
	keyErr := rc.keyErr
	rc.mu.Unlock()
	switch {
	case keyErr != nil:
		return nil, keyErr
	case rc.wbroken:
		return nil, errors.New("netpoll: TLS writes did not end on record boundaries")
	case rc.in.err != nil:
		return nil, rc.in.err
	case rc.out.err != nil:
		return nil, rc.out.err
	case len(rc.cur) > 0:
		return nil, errors.New("netpoll: crypto/tls holds part of a record")
	case rc.out.pending.Load():
		return nil, errors.New("netpoll: a TLS KeyUpdate answer is still due")
	}
	for _, t := range []*tracker{&rc.in, &rc.out} {
		if !t.ready {
			s, secret := rc.keys(t == &rc.out)
			if secret == nil {
				return nil, errors.New("netpoll: no TLS 1.3 traffic secrets (TLS 1.2, or an unsupported suite)")
			}
			if err := t.h.setSecret(s, secret); err != nil {
				return nil, err
			}
			t.ready = true
		}
	}
	tc := &tlsConn{rd: rc.in.h, wr: rc.out.h}
	if rc.r < rc.w {
		tc.part = append(getPart(), rc.buf[rc.r:rc.w]...)
	}
	rc.in.scratch, rc.out.scratch, rc.buf = nil, nil, nil
	return tc, nil
}

// fdConn is the blocking net.Conn a handshake goroutine runs crypto/tls
// over: non-blocking reads and writes on the connection's own fd, waiting
// for readiness with poll(2) until the handshake deadline (one thread per
// handshake in progress, bounded by MaxTLSHandshakes). Close only marks
// it: the fd belongs to the Conn.
type fdConn struct {
	net.Conn // addresses and the rest, never read nor written
	fd       int
	deadline int64       // Unix ns
	stop     func() bool // the server drains: give up
}

func (f *fdConn) Read(p []byte) (int, error)  { return f.io(p, false) }
func (f *fdConn) Write(p []byte) (int, error) { return f.writeAll(p) }
func (f *fdConn) Close() error                { return nil }

func (f *fdConn) writeAll(p []byte) (int, error) {
	total := 0
	for total < len(p) {
		n, err := f.io(p[total:], true)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// errHandshakeTimeout is the handshake goroutine's deadline.
var errHandshakeTimeout = os.ErrDeadlineExceeded
