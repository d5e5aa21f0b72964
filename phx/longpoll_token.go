package phx

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// LongPoll tokens are opaque to the client. A session token names a live
// session; a reject token tells the next poll to answer 403: it comes with
// a refused client's phx_connect_error message, and with the last messages
// of a session the server ended (so the client learns it was ended, as
// from Phoenix, with no record kept of the session). Both are MAC'd with
// the server's secret so they cannot be forged, and carry no state of
// their own beyond an id or an expiry.
//
//	session: 's' ‖ id (16 random bytes)        ‖ mac (16)
//	reject:  'r' ‖ expiry (8, unix ms, big end) ‖ mac (16)
const (
	tokenSession = 's'
	tokenReject  = 'r'
	tokenIDLen   = 16
	tokenMACLen  = 16
)

var tokenEnc = base64.RawURLEncoding

type tokenSigner struct {
	key []byte
}

func newTokenSigner(secret []byte) *tokenSigner {
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			panic("phx: no randomness for LongPoll tokens: " + err.Error())
		}
	}
	return &tokenSigner{key: append([]byte(nil), secret...)}
}

func (ts *tokenSigner) mac(body []byte) []byte {
	m := hmac.New(sha256.New, ts.key)
	m.Write(body)
	return m.Sum(nil)[:tokenMACLen]
}

func (ts *tokenSigner) seal(body []byte) string {
	return tokenEnc.EncodeToString(append(body, ts.mac(body)...))
}

// open checks a token's MAC and returns its kind and body.
func (ts *tokenSigner) open(token string) (kind byte, body []byte, ok bool) {
	raw, err := tokenEnc.DecodeString(token)
	if err != nil || len(raw) < 1+tokenMACLen {
		return 0, nil, false
	}
	body, sum := raw[:len(raw)-tokenMACLen], raw[len(raw)-tokenMACLen:]
	if !hmac.Equal(ts.mac(body), sum) {
		return 0, nil, false
	}
	return body[0], body[1:], true
}

// newSession returns a fresh session id and its token.
func (ts *tokenSigner) newSession() (id string, token string) {
	body := make([]byte, 1+tokenIDLen)
	body[0] = tokenSession
	if _, err := rand.Read(body[1:]); err != nil {
		panic("phx: no randomness for LongPoll tokens: " + err.Error())
	}
	return string(body[1:]), ts.seal(body)
}

// sessionID returns the session id a token names.
func (ts *tokenSigner) sessionID(token string) (string, bool) {
	kind, body, ok := ts.open(token)
	if !ok || kind != tokenSession || len(body) != tokenIDLen {
		return "", false
	}
	return string(body), true
}

// newReject returns a reject token valid until now+ttl.
func (ts *tokenSigner) newReject(now time.Time, ttl time.Duration) string {
	body := make([]byte, 9)
	body[0] = tokenReject
	binary.BigEndian.PutUint64(body[1:], uint64(now.Add(ttl).UnixMilli()))
	return ts.seal(body)
}

// isReject reports whether token is an unexpired reject token.
func (ts *tokenSigner) isReject(token string, now time.Time) bool {
	kind, body, ok := ts.open(token)
	if !ok || kind != tokenReject || len(body) != 8 {
		return false
	}
	return now.UnixMilli() <= int64(binary.BigEndian.Uint64(body))
}
