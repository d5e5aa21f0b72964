package token

import (
	"crypto/hmac"
	"crypto/sha512"
	"errors"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/etf"
)

const testSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func at(t time.Time) Option { return Clock(func() time.Time { return t }) }

func TestErrors(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tok, err := Sign(testSecret, "s", "x", at(now))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := Encrypt(testSecret, "s", "x", at(now))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		fn   func() (any, error)
	}{
		{"verify empty", ErrMissing, func() (any, error) { return Verify(testSecret, "s", "") }},
		{"decrypt empty", ErrMissing, func() (any, error) { return Decrypt(testSecret, "s", "") }},
		{"garbage", ErrInvalid, func() (any, error) { return Verify(testSecret, "s", "a.b.c") }},
		{"two parts", ErrInvalid, func() (any, error) { return Verify(testSecret, "s", tok[:strings.LastIndex(tok, ".")]) }},
		{"four parts", ErrInvalid, func() (any, error) { return Verify(testSecret, "s", tok+".x") }},
		{"newline in signature", ErrInvalid, func() (any, error) { return Verify(testSecret, "s", tok[:len(tok)-2]+"\n"+tok[len(tok)-2:], at(now)) }},
		{"encrypted truncated", ErrInvalid, func() (any, error) { return Decrypt(testSecret, "s", enc[:20], at(now)) }},
		{"expired", ErrExpired, func() (any, error) { return Verify(testSecret, "s", tok, at(now.Add(86401*time.Second))) }},
		{"expired encrypted", ErrExpired, func() (any, error) { return Decrypt(testSecret, "s", enc, at(now.Add(86401*time.Second))) }},
		{"max age 0", ErrExpired, func() (any, error) { return Verify(testSecret, "s", tok, at(now), MaxAge(0)) }},
		{"max age negative", ErrExpired, func() (any, error) { return Verify(testSecret, "s", tok, at(now), MaxAge(-time.Second)) }},
	}
	for _, c := range cases {
		if v, err := c.fn(); !errors.Is(err, c.err) {
			t.Errorf("%s: %#v, %v; want %v", c.name, v, err, c.err)
		}
	}
	for _, e := range []error{ErrInvalid, ErrExpired} {
		if errors.Is(e, ErrMissing) || errors.Is(ErrMissing, e) {
			t.Fatal("errors not distinct")
		}
	}
	// Signed "in the future" is accepted, as Plug.Crypto 2.1.1 does.
	if v, err := Verify(testSecret, "s", tok, at(now.Add(-time.Hour))); err != nil || v != "x" {
		t.Fatalf("signed in the future: %v, %v", v, err)
	}
}

func TestBadOptions(t *testing.T) {
	for name, opts := range map[string][]Option{
		"iterations 0": {KeyIterations(0)},
		"length 0":     {KeyLength(0)},
		"length huge":  {KeyLength(1 << 20)},
		"digest":       {KeyDigest("md5")},
	} {
		if _, err := Sign(testSecret, "s", 1, opts...); err == nil {
			t.Errorf("%s: Sign accepted", name)
		}
		if _, err := Verify(testSecret, "s", "SFMyNTY.a.b", opts...); err == nil || errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify: %v", name, err)
		}
	}
	if _, err := Encrypt(testSecret, "s", 1, KeyLength(16)); err == nil {
		t.Error("Encrypt with a 16-byte key")
	}
	if _, err := Sign(testSecret, "s", make(chan int)); !errors.Is(err, etf.ErrUnencodable) {
		t.Errorf("unencodable data: %v", err)
	}
}

// TestOtherDigests checks MessageVerifier's HS384 and HS512 headers,
// which Plug.Crypto verifies though Phoenix.Token never signs them.
func TestOtherDigests(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	payload, err := (&config{now: func() time.Time { return now }}).encode("y")
	if err != nil {
		t.Fatal(err)
	}
	key, err := newConfig(nil).key(testSecret, "s")
	if err != nil {
		t.Fatal(err)
	}
	for header, h := range map[string]func() hashFunc{
		headerHS384: func() hashFunc { return sha512.New384 },
		headerHS512: func() hashFunc { return sha512.New },
	} {
		text := header + "." + b64(payload)
		mac := hmac.New(h(), key)
		mac.Write([]byte(text))
		tok := text + "." + b64(mac.Sum(nil))
		if v, err := Verify(testSecret, "s", tok, at(now)); err != nil || v != "y" {
			t.Errorf("%s: %v, %v", header, v, err)
		}
		// Padded base64 is read too, as Elixir's url_decode64 reads it.
		sig := mac.Sum(nil)
		padded := text + "." + b64(sig) + strings.Repeat("=", (4-len(b64(sig))%4)%4)
		if v, err := Verify(testSecret, "s", padded, at(now)); err != nil || v != "y" {
			t.Errorf("%s padded: %v, %v", header, v, err)
		}
	}
}

// TestValidHMACBadPayload: a correctly signed payload that is not a
// term, or a term of the wrong shape, is invalid.
func TestValidHMACBadPayload(t *testing.T) {
	key, _ := newConfig(nil).key(testSecret, "s")
	for _, payload := range [][]byte{
		[]byte("not a term"),
		{131, 97, 1},                                 // 1: no shape
		{131, 104, 1, 97, 1},                         // {1}
		{131, 104, 3, 97, 1, 97, 2, 97, 3, 0},        // trailing byte
		{131, 104, 3, 97, 1, 97, 2, 109, 0, 0, 0, 0}, // max age a binary
		{131, 104, 3, 88, 119, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 97, 2, 97, 3}, // a pid as data
	} {
		if v, err := Verify(testSecret, "s", signMessage(payload, key)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%x: %#v, %v", payload, v, err)
		}
	}
}

// TestKeyCacheBounded: derived keys are cached (a second derivation of the
// same key is the cached slice) and the cache never holds more than
// keyCacheSize keys, however many salts an attacker makes it derive.
func TestKeyCacheBounded(t *testing.T) {
	derive := func(salt string) []byte {
		k, err := newConfig([]Option{KeyIterations(1)}).key(testSecret, salt)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if a, b := derive("cached"), derive("cached"); &a[0] != &b[0] {
		t.Fatal("the same key was derived twice: nothing is cached")
	}
	for i := range keyCacheSize + 10 {
		derive(strings.Repeat("s", i+1))
	}
	keyCache.Lock()
	n := len(keyCache.m)
	keyCache.Unlock()
	if n != keyCacheSize {
		t.Fatalf("cache holds %d keys after %d derivations, want exactly %d", n, keyCacheSize+11, keyCacheSize)
	}
}

func TestDefaultsRoundTrip(t *testing.T) {
	tok, err := Sign(testSecret, "user socket", 42)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "SFMyNTY.") {
		t.Fatal(tok)
	}
	if v, err := Verify(testSecret, "user socket", tok); err != nil || v != int64(42) {
		t.Fatalf("%v, %v", v, err)
	}
	enc, err := Encrypt(testSecret, "user socket", 42)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "XCP.") {
		t.Fatal(enc)
	}
	if v, err := Decrypt(testSecret, "user socket", enc); err != nil || v != int64(42) {
		t.Fatalf("%v, %v", v, err)
	}
}

type hashFunc = func() hash.Hash
