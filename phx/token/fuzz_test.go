package token

import (
	"testing"
	"time"
)

// FuzzOpen feeds arbitrary strings to Verify and Decrypt: they must never
// panic and must answer one of the three errors or data.
func FuzzOpen(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	for _, s := range []string{"", "SFMyNTY.a.b", "XCP.", "QTEyOEdDTQ.a.b.c.d", "SFMzODQ..", "XCP.AAAA"} {
		f.Add(s)
	}
	if tok, err := Sign(testSecret, "s", map[string]any{"a": []any{1, 2.5}}, SignedAt(now)); err == nil {
		f.Add(tok)
	}
	if tok, err := Encrypt(testSecret, "s", "x", SignedAt(now)); err == nil {
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, open := range []func(string, string, string, ...Option) (any, error){Verify, Decrypt} {
			_, err := open(testSecret, "s", tok, at(now))
			switch err {
			case nil, ErrInvalid, ErrExpired, ErrMissing:
			default:
				t.Fatalf("%q: %v", tok, err)
			}
		}
	})
}
