// Package token signs, verifies, encrypts and decrypts Phoenix.Token
// tokens, byte for byte as Elixir's Phoenix.Token and Plug.Crypto do, so
// a Go server accepts the tokens an Elixir app already issued and the
// other way round.
//
// A token carries an Erlang term (see package etf for how terms map to
// Go values) together with the time it was signed and its max age:
//
//	data, err := token.Verify(secretKeyBase, "user socket", tok, token.MaxAge(24*time.Hour))
//
// Signed tokens ("SFMyNTY.<payload>.<signature>") can be read by anyone
// holding them; encrypted ones ("XCP.<…>", XChaCha20-Poly1305) cannot. The
// key of both is derived from the secret key base and the salt with
// PBKDF2 (HMAC-SHA256, 1000 iterations, 32 bytes unless the Key* options
// say otherwise), as Plug.Crypto.KeyGenerator does, and cached.
//
// Verify and Decrypt read every payload Plug.Crypto and Phoenix have
// written: the tuple {data, signed_at_ms, max_age_s} of Plug.Crypto 1.2
// and later, the tuple {data, signed_at_ms} of Plug.Crypto 1.1 and the
// map %{data: data, signed: signed_at_ms} of Phoenix before Plug.Crypto
// took over. Decrypt also reads the AES-GCM tokens ("QTEyOEdDTQ.…") of
// Plug.Crypto 1.x. The HMAC (or AEAD tag) is always checked, in constant
// time, before anything in the token is decoded.
//
// Where this package differs from Plug.Crypto, on tokens no honest
// signer writes: a term with pids, references or funs, or with trailing
// bytes after the term, is ErrInvalid (Plug.Crypto returns the pid or
// raises); a payload of another shape is ErrInvalid (Plug.Crypto raises);
// an empty token string is ErrMissing, as a nil token is in Elixir (an
// empty binary is :invalid there). As in Plug.Crypto 2.1.1, a token signed
// in the future is accepted (Plug.Crypto's unreleased main branch calls it
// invalid).
package token

import (
	"errors"
	"io"
	"time"

	"github.com/phxgo/phxgo/phx/etf"
)

// The errors of Verify and Decrypt, Plug.Crypto's {:error, :invalid},
// {:error, :expired} and {:error, :missing}. Errors about the options
// themselves (a zero iteration count …) are none of these.
var (
	ErrInvalid = errors.New("token: invalid")
	ErrExpired = errors.New("token: expired")
	ErrMissing = errors.New("token: missing")
)

// DefaultMaxAge is the max age Sign and Encrypt write when not told.
const DefaultMaxAge = 86400 * time.Second

// Digest names the hash of PBKDF2's HMAC, as Erlang's :crypto names it.
type Digest string

// The digests KeyDigest accepts.
const (
	SHA1   Digest = "sha"
	SHA224 Digest = "sha224"
	SHA256 Digest = "sha256"
	SHA384 Digest = "sha384"
	SHA512 Digest = "sha512"
)

// Option changes how a token is signed or verified.
type Option func(*config)

type config struct {
	maxAge     time.Duration
	maxAgeSet  bool
	infinite   bool
	signedAt   time.Time
	iterations int
	length     int
	digest     Digest
	now        func() time.Time
	rand       io.Reader
	encoder    etf.Encoder
	decoder    etf.Decoder
}

func newConfig(opts []Option) *config {
	c := &config{iterations: 1000, length: 32, digest: SHA256, now: time.Now}
	for _, o := range opts {
		o(c)
	}
	return c
}

// MaxAge is the token's lifetime. Sign and Encrypt write it into the
// token (default DefaultMaxAge); given to Verify or Decrypt, it replaces
// the one in the token. Zero or less makes every token expired, as in
// Plug.Crypto. Lifetimes are counted in milliseconds, truncated.
func MaxAge(d time.Duration) Option {
	return func(c *config) { c.maxAge, c.maxAgeSet, c.infinite = d, true, false }
}

// MaxAgeInfinity is Plug.Crypto's max_age: :infinity, a token that never
// expires.
func MaxAgeInfinity() Option {
	return func(c *config) { c.maxAgeSet, c.infinite = true, true }
}

// SignedAt sets the signing time Sign and Encrypt write (default: now),
// to the millisecond.
func SignedAt(t time.Time) Option { return func(c *config) { c.signedAt = t } }

// KeyIterations sets PBKDF2's iteration count (default 1000).
func KeyIterations(n int) Option { return func(c *config) { c.iterations = n } }

// KeyLength sets the derived key's length in bytes (default 32).
// Encrypt needs 32.
func KeyLength(n int) Option { return func(c *config) { c.length = n } }

// KeyDigest sets PBKDF2's hash (default SHA256).
func KeyDigest(d Digest) Option { return func(c *config) { c.digest = d } }

// Clock sets the time Verify and Decrypt check against, and Sign and
// Encrypt's default signing time (default time.Now).
func Clock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Rand sets where Encrypt reads its 24-byte nonce (default crypto/rand).
// Only tests should set it.
func Rand(r io.Reader) Option { return func(c *config) { c.rand = r } }

// Encoder sets how Sign and Encrypt write the payload term. The zero
// etf.Encoder writes what OTP 26 and later write; etf.Encoder{Latin1Atoms:
// true} writes OTP 25's bytes.
func Encoder(e etf.Encoder) Option { return func(c *config) { c.encoder = e } }

// Decoder sets the limits of the payload's decoding (default: etf's
// defaults, 1 MiB and nesting depth 64).
func Decoder(d etf.Decoder) Option { return func(c *config) { c.decoder = d } }

// Sign encodes data with its signing time and max age and signs it:
// Phoenix.Token.sign/4. data is encoded with package etf.
func Sign(secretKeyBase, salt string, data any, opts ...Option) (string, error) {
	return seal(secretKeyBase, salt, data, opts, func(payload, key []byte, _ *config) (string, error) {
		return signMessage(payload, key), nil
	})
}

// Verify checks a signed token and returns its data: Phoenix.Token.verify/4.
// The error is ErrMissing, ErrInvalid or ErrExpired (or one about the
// options).
func Verify(secretKeyBase, salt, token string, opts ...Option) (any, error) {
	return open(secretKeyBase, salt, token, opts, verifyMessage)
}

// Encrypt encodes data with its signing time and max age and encrypts
// it: Phoenix.Token.encrypt/4. The derived key must be 32 bytes long.
func Encrypt(secretKeyBase, salt string, data any, opts ...Option) (string, error) {
	return seal(secretKeyBase, salt, data, opts, func(payload, key []byte, c *config) (string, error) {
		return encryptMessage(payload, key, c.rand)
	})
}

// Decrypt decrypts a token and returns its data: Phoenix.Token.decrypt/4.
// The error is ErrMissing, ErrInvalid or ErrExpired (or one about the
// options).
func Decrypt(secretKeyBase, salt, token string, opts ...Option) (any, error) {
	return open(secretKeyBase, salt, token, opts, decryptMessage)
}

// seal encodes data and wraps it with the derived key (signs or encrypts).
func seal(secretKeyBase, salt string, data any, opts []Option,
	wrap func(payload, key []byte, c *config) (string, error)) (string, error) {
	c := newConfig(opts)
	key, err := c.key(secretKeyBase, salt)
	if err != nil {
		return "", err
	}
	payload, err := c.encode(data)
	if err != nil {
		return "", err
	}
	return wrap(payload, key, c)
}

// open unwraps token with the derived key (checks the signature or
// decrypts) and only then decodes its payload.
func open(secretKeyBase, salt, token string, opts []Option,
	unwrap func(token string, key []byte) ([]byte, bool)) (any, error) {
	if token == "" {
		return nil, ErrMissing
	}
	c := newConfig(opts)
	key, err := c.key(secretKeyBase, salt)
	if err != nil {
		return nil, err
	}
	payload, ok := unwrap(token, key)
	if !ok {
		return nil, ErrInvalid
	}
	return c.decode(payload)
}
