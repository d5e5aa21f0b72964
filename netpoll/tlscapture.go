package netpoll

import (
	"bytes"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// recConn sits under a crypto/tls server connection and makes the
// connection's record state knowable, so that the event loop can carry
// it on after the handshake (or after net/http hijacked it):
//
//   - it hands crypto/tls one complete record at a time, so crypto/tls
//     never holds ciphertext past a record boundary: what it has not
//     asked for stays here (a record that is still arriving, too);
//   - it gets the secrets (TLS 1.3 traffic secrets, or the TLS 1.2
//     master secret) from the listener's KeyLogWriter (keyRouter, by
//     client random) and the suite and server random from the
//     ServerHello crypto/tls writes;
//   - it follows both directions' sequence numbers: TLS 1.3 application
//     records read are decrypted on a copy (so a KeyUpdate is seen),
//     those written are counted (decrypted only while a KeyUpdate reply
//     is due); TLS 1.2 records are counted from change_cipher_spec.
//
// After the switch crypto/tls must not touch the connection again.
type recConn struct {
	net.Conn
	suiteID atomic.Uint32 // the ServerHello's cipher suite (0: not yet)
	mu      sync.Mutex    // guards secrets, master, srandom, keyErr, random, crandom, routed, unrouted
	secrets [2][]byte     // client, server application traffic secret 0
	master  []byte        // TLS 1.2: the master secret
	srandom []byte        // TLS 1.2: the server random (ServerHello)
	keyErr  error
	random  []byte     // client random of the lines above
	router  *keyRouter // routes the key log lines of rc's handshake here
	crandom [32]byte   // rc's client random, once its ClientHello was read
	routed  bool       // rc is in router.conns
	// unrouted: unroute ran (Close may run on another goroutine than the
	// handshake's Read: a ClientHello read after it is not routed).
	unrouted bool
	hello    bool        // Read saw a ClientHello (Read's goroutine only)
	stopped  atomic.Bool // taken over: Read answers errTakenOver
	recBuf               // ciphertext read and not yet handed out
	cur      []byte      // rest of the record being handed to crypto/tls
	in, out  tracker
	wbroken  bool // a Write ended inside a record: the write side is unknown
}

// errTakenOver is what crypto/tls reads once the connection was taken
// over; a timeout, so crypto/tls does not make it sticky.
var errTakenOver = &takenOver{}

type takenOver struct{}

func (*takenOver) Error() string   { return "netpoll: TLS connection taken over by the event loop" }
func (*takenOver) Timeout() bool   { return true }
func (*takenOver) Temporary() bool { return true }

func newRecConn(nc net.Conn, kr *keyRouter) *recConn {
	return &recConn{Conn: nc, router: kr, recBuf: recBuf{buf: make([]byte, maxRecordLen+2048)}}
}

// keyRouter is the KeyLogWriter of one listener's config: it hands each
// key log line to the connection whose ClientHello carried the line's
// client random (and every line to the application's own KeyLogWriter,
// if it set one). One config per listener, not per connection, so that
// session tickets made for one connection resume on another.
type keyRouter struct {
	conns sync.Map // [32]byte client random → *recConn
	app   io.Writer
}

// newKeyRouter clones cfg with a keyRouter as its KeyLogWriter; a config
// chosen by GetConfigForClient is cloned per handshake to get it too.
func newKeyRouter(cfg *tls.Config) (*tls.Config, *keyRouter) {
	kr := &keyRouter{app: cfg.KeyLogWriter}
	c := cfg.Clone()
	c.KeyLogWriter = kr
	no12Resumption(c)
	if get := cfg.GetConfigForClient; get != nil {
		c.GetConfigForClient = func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
			nc, err := get(hi)
			if nc == nil || err != nil {
				return nc, err
			}
			nc = nc.Clone()
			nc.KeyLogWriter = kr
			no12Resumption(nc)
			return nc, nil
		}
	}
	return c, kr
}

// no12Resumption makes TLS 1.2 clients do full handshakes: crypto/tls
// logs no master secret when it resumes a TLS 1.2 session, so such a
// connection could not be taken over. TLS 1.3 sessions resume as before.
func no12Resumption(c *tls.Config) {
	unwrap := c.UnwrapSession
	c.UnwrapSession = func(id []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		switch {
		case cs.Version != tls.VersionTLS13:
			return nil, nil
		case unwrap != nil:
			return unwrap(id, cs)
		}
		return c.DecryptTicket(id, cs)
	}
}

func (kr *keyRouter) Write(p []byte) (int, error) {
	if kr.app != nil {
		_, _ = kr.app.Write(p)
	}
	if f := bytes.Fields(p); len(f) == 3 && len(f[1]) == 64 {
		var random [32]byte
		if _, err := hex.Decode(random[:], f[1]); err == nil {
			if rc, ok := kr.conns.Load(random); ok {
				rc.(*recConn).keyLine(p)
			}
		}
	}
	return len(p), nil
}

// clientHello routes the key log lines of the handshake whose
// ClientHello record rc hands out (a ClientHello split across records
// is not followed: the connection then cannot be taken over). A random
// already routed to a handshake in progress keeps its route: a copy of
// another client's random gets no keys.
// It reports whether b was a ClientHello.
func (rc *recConn) clientHello(b []byte) bool {
	// type(1) length(3) legacy_version(2) random(32)
	if rc.router == nil || len(b) < 38 || b[0] != 1 {
		return false
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.unrouted {
		return true
	}
	copy(rc.crandom[:], b[6:38])
	_, taken := rc.router.conns.LoadOrStore(rc.crandom, rc)
	rc.routed = !taken
	return true
}

// unroute forgets rc in its router (handshake over or failed, or the
// connection closed, from any goroutine).
func (rc *recConn) unroute() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.routed {
		rc.router.conns.Delete(rc.crandom)
		rc.routed = false
	}
	rc.unrouted = true
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
	case "CLIENT_RANDOM":
		i = 2
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
	if i == 2 {
		rc.random, rc.master = random, secret
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
			rc.cur = rc.take(n)
			if !rc.hello && rc.cur[0] == recHandshake {
				rc.hello = rc.clientHello(rc.cur[recHeaderLen:])
			}
			rc.in.see(rc.cur, rc, false)
			break
		}
		if err := rc.readMore(rc.Conn); err != nil {
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
		rc.mu.Lock()
		rc.srandom = slices.Clone(b[6:38])
		rc.mu.Unlock()
		rc.suiteID.Store(uint32(b[at])<<8 | uint32(b[at+1]))
	}
}

// tracker follows one direction's record protection from the outside.
type tracker struct {
	h       halfConn
	ready   bool        // the application secret is installed
	app     bool        // an application-phase record was seen
	pending atomic.Bool // a KeyUpdate is due in this direction: decrypt to find it
	ccs     bool        // a change_cipher_spec went this way
	n12     uint64      // records after it: the TLS 1.2 sequence number
	err     error       // lost track: the connection cannot be taken over
	scratch []byte
}

// see accounts for one complete record going in the direction of t.
func (t *tracker) see(rec []byte, rc *recConn, server bool) {
	switch {
	case rec[0] == recCCS:
		t.ccs = true
		return
	case t.ccs:
		t.n12++ // counted whatever the version; used for TLS 1.2 only
	}
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
	rc.unroute()
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
	if st, ok, err := rc.takeOver12(); ok || err != nil {
		return st, err
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

// takeOver12 is takeOver for a TLS 1.2 connection (ok false for 1.3).
func (rc *recConn) takeOver12() (*tlsConn, bool, error) {
	s, ok := suite12For(uint16(rc.suiteID.Load()))
	if !ok {
		return nil, false, nil
	}
	rc.mu.Lock()
	master, crand, srand := rc.master, rc.random, rc.srandom
	rc.mu.Unlock()
	if master == nil || srand == nil {
		return nil, true, errors.New("netpoll: no TLS 1.2 master secret logged")
	}
	client, server, err := keys12(s, master, crand, srand)
	if err != nil {
		return nil, true, err
	}
	client.seq, server.seq = rc.in.n12, rc.out.n12
	tc := &tlsConn{rd: client, wr: server}
	if rc.r < rc.w {
		tc.part = append(getPart(), rc.buf[rc.r:rc.w]...)
	}
	rc.in.scratch, rc.out.scratch, rc.buf = nil, nil, nil
	return tc, true, nil
}

// hsConn is the blocking net.Conn a handshake goroutine runs crypto/tls
// over: non-blocking reads and writes on the connection's own fd, waiting
// for readiness with poll(2) until the handshake deadline (one thread per
// handshake in progress, bounded by MaxTLSHandshakes). Close only marks
// it: the fd belongs to the Conn.
type hsConn struct {
	fd       int
	peer     peerAddr
	deadline int64       // Unix ns
	stop     func() bool // the server drains: give up
}

func (f *hsConn) Read(p []byte) (int, error)  { return f.io(p, false) }
func (f *hsConn) Write(p []byte) (int, error) { return f.writeAll(p) }
func (f *hsConn) Close() error                { return nil }

// The handshake keeps its own deadline (HandshakeTimeout); crypto/tls
// sets none.
func (f *hsConn) SetDeadline(time.Time) error      { return nil }
func (f *hsConn) SetReadDeadline(time.Time) error  { return nil }
func (f *hsConn) SetWriteDeadline(time.Time) error { return nil }
func (f *hsConn) RemoteAddr() net.Addr             { return f.peer.netAddr() }

// LocalAddr asks the socket (getsockname).
func (f *hsConn) LocalAddr() net.Addr {
	sa, _ := unix.Getsockname(f.fd)
	if p := peerFromSockaddr(sa); p.fam != 0 {
		return p.netAddr()
	}
	return &net.UnixAddr{Net: "unix"}
}

func (f *hsConn) writeAll(p []byte) (int, error) {
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
