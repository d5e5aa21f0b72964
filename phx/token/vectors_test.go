package token

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/etf"
)

// elixirVector is one token of testdata/elixir_vectors.json, made by
// Plug.Crypto's own code (testdata/gen/gen_vectors.exs).
type elixirVector struct {
	Name          string `json:"name"`
	Kind          string `json:"kind"` // sign or encrypt
	Salt          string `json:"salt"`
	Secret        string `json:"secret"`
	Token         string `json:"token"`
	SignedAt      int64  `json:"signed_at"` // seconds
	MaxAge        string `json:"max_age"`   // seconds, "default" or "infinity"
	DataHex       string `json:"data_hex"`  // term_to_binary of the data
	KeyIterations int    `json:"key_iterations"`
	KeyLength     int    `json:"key_length"`
	KeyDigest     string `json:"key_digest"`
}

func loadElixirVectors(t *testing.T) []elixirVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/elixir_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []elixirVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 40 {
		t.Fatalf("only %d vectors", len(f.Vectors))
	}
	return f.Vectors
}

func (v elixirVector) keyOpts() []Option {
	var o []Option
	if v.KeyIterations != 0 {
		o = append(o, KeyIterations(v.KeyIterations))
	}
	if v.KeyLength != 0 {
		o = append(o, KeyLength(v.KeyLength))
	}
	if v.KeyDigest != "" {
		o = append(o, KeyDigest(Digest(v.KeyDigest)))
	}
	return o
}

func (v elixirVector) open(at time.Time, opts ...Option) (any, error) {
	opts = append(append(v.keyOpts(), Clock(func() time.Time { return at })), opts...)
	if v.Kind == "encrypt" {
		return Decrypt(v.Secret, v.Salt, v.Token, opts...)
	}
	return Verify(v.Secret, v.Salt, v.Token, opts...)
}

// maxAgeMS is the vector's lifetime in ms; ok is false for infinity.
func (v elixirVector) maxAgeMS(t *testing.T) (int64, bool) {
	switch v.MaxAge {
	case "default":
		return 86400_000, true
	case "infinity":
		return 0, false
	}
	f, err := strconv.ParseFloat(v.MaxAge, 64)
	if err != nil {
		t.Fatal(err)
	}
	return int64(f * 1000), true
}

func sameData(a, b any) bool {
	if x, ok := a.(*big.Int); ok {
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	}
	return reflect.DeepEqual(a, b)
}

// TestElixirVectors opens every token Elixir made, at the edges of its
// lifetime, and checks that a tampered copy is refused.
func TestElixirVectors(t *testing.T) {
	for _, v := range loadElixirVectors(t) {
		t.Run(v.Kind+"/"+v.Name, func(t *testing.T) {
			raw, err := hex.DecodeString(v.DataHex)
			if err != nil {
				t.Fatal(err)
			}
			want, err := etf.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			signed := time.UnixMilli(v.SignedAt * 1000)
			ms, finite := v.maxAgeMS(t)
			switch {
			case finite && ms <= 0:
				if _, err := v.open(signed); !errors.Is(err, ErrExpired) {
					t.Fatalf("max age %s: %v, want ErrExpired", v.MaxAge, err)
				}
			case finite:
				last := signed.Add(time.Duration(ms) * time.Millisecond)
				if got, err := v.open(last); err != nil || !sameData(got, want) {
					t.Fatalf("at the last valid ms: %#v, %v; want %#v", got, err, want)
				}
				if _, err := v.open(last.Add(time.Millisecond)); !errors.Is(err, ErrExpired) {
					t.Fatalf("1 ms later: %v, want ErrExpired", err)
				}
			default:
				if got, err := v.open(signed.AddDate(100, 0, 0)); err != nil || !sameData(got, want) {
					t.Fatalf("infinity, 100 years on: %#v, %v", got, err)
				}
			}
			// Verify's max age replaces the token's.
			if got, err := v.open(signed.AddDate(50, 0, 0), MaxAgeInfinity()); err != nil || !sameData(got, want) {
				t.Fatalf("MaxAgeInfinity: %#v, %v", got, err)
			}
			if _, err := v.open(signed.Add(2*time.Second), MaxAge(time.Second)); !errors.Is(err, ErrExpired) {
				t.Fatalf("MaxAge(1s) 2 s on: %v", err)
			}
			// The other operation, a wrong salt, a wrong secret, a changed byte.
			other := v
			if v.Kind == "sign" {
				other.Kind = "encrypt"
			} else {
				other.Kind = "sign"
			}
			if _, err := other.open(signed); !errors.Is(err, ErrInvalid) {
				t.Fatalf("opened with the other operation: %v", err)
			}
			for _, bad := range []elixirVector{withSalt(v, v.Salt+"x"), withSecret(v, v.Secret[1:]), tampered(v)} {
				if _, err := bad.open(signed); !errors.Is(err, ErrInvalid) {
					t.Fatalf("%q: %v, want ErrInvalid", bad.Token, err)
				}
			}
		})
	}
}

func withSalt(v elixirVector, s string) elixirVector   { v.Salt = s; return v }
func withSecret(v elixirVector, s string) elixirVector { v.Secret = s; return v }

// tampered changes one character in the middle of the token.
func tampered(v elixirVector) elixirVector {
	b := []byte(v.Token)
	i := len(b) * 2 / 3
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	v.Token = string(b)
	return v
}

// TestResignElixirVectors signs each current-format Elixir token's data
// again in Go, with OTP 25's atom encoding: the token must be the very
// same string (encryption differs by its random nonce; see go_vectors).
func TestResignElixirVectors(t *testing.T) {
	n := 0
	for _, v := range loadElixirVectors(t) {
		if v.Kind != "sign" || strings.Contains(v.Name, "_map_") || strings.HasPrefix(v.Name, "plug_crypto_1_1") {
			continue
		}
		raw, _ := hex.DecodeString(v.DataHex)
		data, err := etf.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		opts := append(v.keyOpts(), SignedAt(time.Unix(v.SignedAt, 0)), Encoder(etf.Encoder{Latin1Atoms: true}))
		switch v.MaxAge {
		case "default":
		case "infinity":
			opts = append(opts, MaxAgeInfinity())
		default:
			f, _ := strconv.ParseFloat(v.MaxAge, 64)
			opts = append(opts, MaxAge(time.Duration(f*float64(time.Second))))
		}
		tok, err := Sign(v.Secret, v.Salt, data, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if tok != v.Token {
			t.Errorf("%s: Go signed\n%s\nElixir signed\n%s", v.Name, tok, v.Token)
		}
		n++
	}
	if n < 20 {
		t.Fatalf("only %d tokens compared", n)
	}
}
