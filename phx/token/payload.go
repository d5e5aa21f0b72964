package token

import (
	"math"
	"math/big"
	"time"

	"github.com/phxgo/phxgo/phx/etf"
)

// encode writes Plug.Crypto's payload {data, signed_at_ms, max_age_s}.
func (c *config) encode(data any) ([]byte, error) {
	signedAt := c.signedAt
	if signedAt.IsZero() {
		signedAt = c.now()
	}
	var maxAge any = int64(DefaultMaxAge / time.Second)
	switch {
	case c.infinite:
		maxAge = etf.Atom("infinity")
	case c.maxAgeSet && c.maxAge%time.Second == 0:
		maxAge = int64(c.maxAge / time.Second)
	case c.maxAgeSet:
		maxAge = c.maxAge.Seconds()
	}
	return c.encoder.Encode(etf.Tuple{data, signedAt.UnixMilli(), maxAge})
}

// decode reads any payload shape Plug.Crypto or Phoenix has written and
// checks its age.
func (c *config) decode(payload []byte) (any, error) {
	term, err := c.decoder.Decode(payload)
	if err != nil {
		return nil, ErrInvalid
	}
	var data, signed, maxAge any
	maxAge = int64(86400)
	switch t := term.(type) {
	case etf.Tuple:
		switch len(t) {
		case 3: // Plug.Crypto 1.2 and later
			data, signed, maxAge = t[0], t[1], t[2]
		case 2: // Plug.Crypto 1.1
			data, signed = t[0], t[1]
		default:
			return nil, ErrInvalid
		}
	case map[any]any: // Phoenix before Plug.Crypto
		var ok bool
		if data, ok = t[etf.Atom("data")]; !ok {
			return nil, ErrInvalid
		}
		if signed, ok = t[etf.Atom("signed")]; !ok {
			return nil, ErrInvalid
		}
	default:
		return nil, ErrInvalid
	}
	if err := c.checkAge(signed, maxAge); err != nil {
		return nil, err
	}
	return data, nil
}

// checkAge is Plug.Crypto 2.1.1's expired?/2: a max age of :infinity
// never expires, one of zero or less always has, and otherwise a token
// has expired once signed + max age (in milliseconds, truncated) is
// before now. A token signed in the future is accepted, as in 2.1.1 (the
// unreleased main branch calls it invalid; accepting it keeps a Go node
// whose clock lags the Elixir signer's from refusing fresh tokens).
func (c *config) checkAge(signed, tokenMaxAge any) error {
	if c.maxAgeSet {
		if c.infinite {
			return nil
		}
		if c.maxAge <= 0 {
			return ErrExpired
		}
		return expiry(signed, big.NewInt(c.maxAge.Milliseconds()), c.now())
	}
	var ms *big.Int
	switch m := tokenMaxAge.(type) {
	case etf.Atom:
		if m != "infinity" {
			return ErrInvalid
		}
		return nil
	case int64:
		if m <= 0 {
			return ErrExpired
		}
		ms = new(big.Int).Mul(big.NewInt(m), big.NewInt(1000))
	case *big.Int:
		if m.Sign() <= 0 {
			return ErrExpired
		}
		ms = new(big.Int).Mul(m, big.NewInt(1000))
	case float64:
		if m <= 0 {
			return ErrExpired
		}
		if math.IsInf(m*1000, 0) {
			return ErrInvalid // Erlang's arithmetic overflows too
		}
		ms, _ = big.NewFloat(math.Trunc(m * 1000)).Int(nil)
	default:
		return ErrInvalid
	}
	return expiry(signed, ms, c.now())
}

func expiry(signed any, maxAgeMS *big.Int, now time.Time) error {
	var s *big.Int
	switch v := signed.(type) {
	case int64:
		s = big.NewInt(v)
	case *big.Int:
		s = v
	default:
		return ErrInvalid
	}
	n := big.NewInt(now.UnixMilli())
	if new(big.Int).Add(s, maxAgeMS).Cmp(n) < 0 {
		return ErrExpired
	}
	return nil
}
