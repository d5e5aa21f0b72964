package netpoll

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"hash"
	"slices"
)

// TLS 1.2 with ECDHE and an AEAD (RFC 5246, 5288, 7905): keys from the
// master secret (key log "CLIENT_RANDOM") and both randoms; AES-GCM
// records carry an 8-byte explicit nonce (our sequence number), ChaCha20
// uses IV XOR sequence number; the additional data is sequence number,
// type, version and plaintext length. No renegotiation, no KeyUpdate.

var (
	suite12AES128 = &tlsSuite{hash: sha256.New, keyLen: 16, v12: true}
	suite12AES256 = &tlsSuite{hash: sha512.New384, keyLen: 32, v12: true}
	suite12ChaCha = &tlsSuite{hash: sha256.New, keyLen: 32, chacha: true, v12: true}
)

// suites12 are the TLS 1.2 suites the loop can carry; ServeTLS offers
// only these for TLS 1.2.
var suites12 = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

func suite12For(id uint16) (*tlsSuite, bool) {
	switch id {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
		return suite12AES128, true
	case tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return suite12AES256, true
	case tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return suite12ChaCha, true
	}
	return nil, false
}

// prf12 is the TLS 1.2 PRF, P_hash(secret, label + seed).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	seed = append([]byte(label), seed...)
	out := make([]byte, 0, n)
	mac := hmac.New(h, secret)
	mac.Write(seed)
	a := mac.Sum(nil)
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(seed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

// keys12 derives both directions of a TLS 1.2 connection.
func keys12(s *tlsSuite, master, clientRandom, serverRandom []byte) (client, server halfConn, err error) {
	ivLen := 4
	if s.chacha {
		ivLen = 12
	}
	kb := prf12(s.hash, master, "key expansion", append(slices.Clone(serverRandom), clientRandom...), 2*s.keyLen+2*ivLen)
	ck, sk := kb[:s.keyLen], kb[s.keyLen:2*s.keyLen]
	civ, siv := kb[2*s.keyLen:2*s.keyLen+ivLen], kb[2*s.keyLen+ivLen:]
	if err = client.setKeys12(s, ck, civ); err == nil {
		err = server.setKeys12(s, sk, siv)
	}
	return client, server, err
}

func (h *halfConn) setKeys12(s *tlsSuite, key, iv []byte) error {
	aead, err := s.newAEAD(key)
	if err != nil {
		return err
	}
	*h = halfConn{suite: s, aead: aead, v12: true}
	copy(h.iv[:], iv)
	return nil
}

// nonce12 is the AEAD nonce of the record with explicit nonce expl (GCM)
// or of sequence number seq (ChaCha20).
func (h *halfConn) nonce12(expl []byte) []byte {
	if h.suite.chacha {
		return h.nonce()
	}
	n := make([]byte, 12)
	copy(n, h.iv[:4])
	copy(n[4:], expl)
	return n
}

// aad12 is the additional data of a record of type typ with n bytes of
// plaintext.
func (h *halfConn) aad12(typ uint8, n int) []byte {
	var a [13]byte
	binary.BigEndian.PutUint64(a[:], h.seq)
	a[8], a[9], a[10] = typ, 3, 3
	binary.BigEndian.PutUint16(a[11:], uint16(n))
	return a[:]
}

func (h *halfConn) open12(rec []byte) ([]byte, uint8, error) {
	typ := rec[0]
	if typ != recAppData && typ != recAlert && typ != recHandshake {
		return nil, 0, tlsFailure(errTLSBadRecord, alertUnexpectedMessage)
	}
	body := rec[recHeaderLen:]
	pre := h.prefixLen() - recHeaderLen
	if len(body) < pre+h.aead.Overhead() {
		return nil, 0, tlsFailure(errTLSBadRecord, alertDecodeError)
	}
	ct := body[pre:]
	plain, err := h.aead.Open(ct[:0], h.nonce12(body[:pre]), ct, h.aad12(typ, len(ct)-h.aead.Overhead()))
	if err != nil {
		return nil, 0, tlsFailure(errTLSBadRecord, alertBadRecordMAC)
	}
	h.seq++
	if len(plain) > maxPlainLen {
		return nil, 0, tlsFailure(errTLSBadRecord, alertRecordOverflow)
	}
	return plain, typ, nil
}

func (h *halfConn) sealTail12(dst []byte, start int, typ uint8) []byte {
	dst = slices.Grow(dst, h.aead.Overhead())
	pre := h.prefixLen()
	dst[start] = typ
	expl := dst[start+recHeaderLen : start+pre]
	if len(expl) == 8 {
		binary.BigEndian.PutUint64(expl, h.seq) // GCM: the sequence number as explicit nonce
	}
	plain := dst[start+pre:]
	sealed := h.aead.Seal(plain[:0], h.nonce12(expl), plain, h.aad12(typ, len(plain)))
	binary.BigEndian.PutUint16(dst[start+3:], uint16(pre-recHeaderLen+len(sealed)))
	h.seq++
	return dst[:start+pre+len(sealed)]
}
