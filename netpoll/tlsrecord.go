package netpoll

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"hash"
	"net"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
)

// TLS 1.3 record layer (RFC 8446 §5): what the event loop needs to carry
// application data once crypto/tls has finished a handshake. Keys come
// from the handshake's traffic secrets (captured through KeyLogWriter),
// nonces are the per-direction IV XOR the record sequence number, and the
// real content type travels inside the encrypted record.

// Record sizes and content types.
const (
	recHeaderLen = 5
	maxPlainLen  = 1 << 14           // largest plaintext of one record
	maxCipherLen = maxPlainLen + 256 // largest ciphertext length a peer may send
	maxRecordLen = recHeaderLen + maxCipherLen
	recOverhead  = recHeaderLen + 1 + 16 // header, inner type, AEAD tag

	recCCS       = 20
	recAlert     = 21
	recHandshake = 22
	recAppData   = 23

	hsKeyUpdate = 24
)

// Alert descriptions we send (RFC 8446 §6).
const (
	alertCloseNotify       = 0
	alertUnexpectedMessage = 10
	alertBadRecordMAC      = 20
	alertRecordOverflow    = 22
	alertDecodeError       = 50
	alertInternalError     = 80
)

// tlsSuite describes a TLS 1.3 cipher suite's key schedule and AEAD.
type tlsSuite struct {
	hash   func() hash.Hash
	keyLen int
	chacha bool
	v12    bool // a TLS 1.2 ECDHE AEAD suite (tls12.go)
}

var (
	suiteAES128 = &tlsSuite{hash: sha256.New, keyLen: 16}
	suiteAES256 = &tlsSuite{hash: sha512.New384, keyLen: 32}
	suiteChaCha = &tlsSuite{hash: sha256.New, keyLen: 32, chacha: true}
)

// suiteFor returns the record protection of a negotiated TLS 1.3 suite.
func suiteFor(id uint16) (*tlsSuite, bool) {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256:
		return suiteAES128, true
	case tls.TLS_AES_256_GCM_SHA384:
		return suiteAES256, true
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		return suiteChaCha, true
	}
	return nil, false
}

// Errors of the record layer.
var (
	errTLSClosed    = errors.New("netpoll: TLS close_notify received")
	errTLSAlert     = errors.New("netpoll: TLS alert received")
	errTLSBadRecord = errors.New("netpoll: bad TLS record")
	errTLSUnsupp    = errors.New("netpoll: unsupported TLS message after the handshake")
)

// tlsError is a record-layer failure and the alert it is answered with.
type tlsError struct {
	err   error
	alert uint8 // 0xff: send none
}

func (e *tlsError) Error() string { return e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

func tlsFailure(err error, alert uint8) error { return &tlsError{err: err, alert: alert} }

// expandLabel is HKDF-Expand-Label with an empty context (RFC 8446 §7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	out, err := hkdf.Expand(h, secret, string(info), n)
	if err != nil {
		panic("netpoll: HKDF-Expand-Label: " + err.Error()) // only for absurd lengths
	}
	return out
}

// halfConn is one direction's protection: AEAD, IV, sequence number and
// the traffic secret (kept for KeyUpdate).
type halfConn struct {
	suite  *tlsSuite
	aead   cipher.AEAD
	secret []byte
	iv     [12]byte // TLS 1.2 AES-GCM: the 4-byte salt
	seq    uint64
	v12    bool // TLS 1.2 record format (tls12.go)
}

// newAEAD is the suite's AEAD (ChaCha20-Poly1305 or AES-GCM) keyed with
// key; TLS 1.2 and 1.3 use the same constructions.
func (s *tlsSuite) newAEAD(key []byte) (cipher.AEAD, error) {
	if s.chacha {
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// setSecret installs a traffic secret (sequence number back to 0).
func (h *halfConn) setSecret(s *tlsSuite, secret []byte) error {
	aead, err := s.newAEAD(expandLabel(s.hash, secret, "key", s.keyLen))
	if err != nil {
		return err
	}
	h.suite, h.aead, h.secret, h.seq = s, aead, secret, 0
	copy(h.iv[:], expandLabel(s.hash, secret, "iv", 12))
	return nil
}

// update moves to the next traffic secret (KeyUpdate, RFC 8446 §7.2).
func (h *halfConn) update() error {
	if h.v12 {
		return errTLSUnsupp
	}
	return h.setSecret(h.suite, expandLabel(h.suite.hash, h.secret, "traffic upd", h.suite.hash().Size()))
}

func (h *halfConn) nonce() []byte {
	n := h.iv
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], h.seq)
	for i := range s {
		n[4+i] ^= s[i]
	}
	return n[:]
}

// open decrypts one complete record (header included) in place and
// returns its plaintext and inner content type.
func (h *halfConn) open(rec []byte) ([]byte, uint8, error) {
	if h.v12 {
		return h.open12(rec)
	}
	if rec[0] != recAppData {
		return nil, 0, tlsFailure(errTLSBadRecord, alertUnexpectedMessage)
	}
	body := rec[recHeaderLen:]
	if len(body) < h.aead.Overhead()+1 {
		return nil, 0, tlsFailure(errTLSBadRecord, alertDecodeError)
	}
	plain, err := h.aead.Open(body[:0], h.nonce(), body, rec[:recHeaderLen])
	if err != nil {
		return nil, 0, tlsFailure(errTLSBadRecord, alertBadRecordMAC)
	}
	h.seq++
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, tlsFailure(errTLSBadRecord, alertUnexpectedMessage)
	}
	if i > maxPlainLen {
		return nil, 0, tlsFailure(errTLSBadRecord, alertRecordOverflow)
	}
	return plain[:i], plain[i], nil
}

// seal appends one record carrying plain (of content type typ) to dst.
func (h *halfConn) seal(dst []byte, typ uint8, plain []byte) []byte {
	start := len(dst)
	dst = append(dst, recAppData, 3, 3, 0, 0)
	dst = append(dst, make([]byte, h.prefixLen()-recHeaderLen)...)
	dst = append(dst, plain...)
	return h.sealTail(dst, start, typ)
}

// sealTail encrypts in place the record started at dst[start:] whose
// header is reserved and whose plaintext follows it.
func (h *halfConn) sealTail(dst []byte, start int, typ uint8) []byte {
	if h.v12 {
		return h.sealTail12(dst, start, typ)
	}
	dst = slices.Grow(append(dst, typ), h.aead.Overhead()) // sealed in place, never moved
	n := len(dst) - start - recHeaderLen
	binary.BigEndian.PutUint16(dst[start+3:], uint16(n+h.aead.Overhead()))
	body := dst[start+recHeaderLen:]
	sealed := h.aead.Seal(body[:0], h.nonce(), body, dst[start:start+recHeaderLen])
	h.seq++
	return dst[:start+recHeaderLen+len(sealed)]
}

// prefixLen is what a record holds before its plaintext: the header, and
// TLS 1.2 AES-GCM's explicit nonce.
func (h *halfConn) prefixLen() int {
	if h.v12 && !h.suite.chacha {
		return recHeaderLen + 8
	}
	return recHeaderLen
}

// recordLen returns the length of the record starting b (header
// included), 0 if b holds less than a header, or an error for a length
// no peer may send.
func recordLen(b []byte) (int, error) {
	if len(b) < recHeaderLen {
		return 0, nil
	}
	n := int(binary.BigEndian.Uint16(b[3:]))
	if n > maxCipherLen {
		return 0, tlsFailure(errTLSBadRecord, alertRecordOverflow)
	}
	return recHeaderLen + n, nil
}

// recBuf is ciphertext read from a connection and not yet consumed,
// buf[r:w], for the readers that cut it into whole records (recConn in
// the handshake, tlsStream after the hand-off to net/http).
type recBuf struct {
	buf  []byte
	r, w int
}

// take consumes the next n bytes (a whole record) and returns them.
func (b *recBuf) take(n int) []byte {
	rec := b.buf[b.r : b.r+n]
	b.r += n
	return rec
}

// readMore moves the unconsumed bytes to the front of buf and reads once
// from c into the room after them; an error counts only when the read
// brought nothing.
func (b *recBuf) readMore(c net.Conn) error {
	if b.r > 0 {
		b.w = copy(b.buf, b.buf[b.r:b.w])
		b.r = 0
	}
	m, err := c.Read(b.buf[b.w:])
	b.w += m
	if err != nil && m == 0 {
		return err
	}
	return nil
}
