package netpoll

import (
	"bytes"
	"testing"
)

// FuzzInflate feeds arbitrary compressed input to the inflater: it never
// panics, never returns more than the limit, and what Deflate made comes
// back whole.
func FuzzInflate(f *testing.F) {
	f.Add([]byte("hello"), []byte{})
	f.Add([]byte{}, []byte{0xff, 0xff, 0x01})
	f.Add(bytes.Repeat([]byte("ab"), 600), []byte{0x00})
	const limit = 1024
	f.Fuzz(func(t *testing.T, plain, raw []byte) {
		out, err := inflate(Deflate(plain, 0), limit)
		switch {
		case len(plain) > limit && err != errTooBig:
			t.Fatalf("%d bytes over a limit of %d: err %v", len(plain), limit, err)
		case len(plain) <= limit && (err != nil || !bytes.Equal(out, plain)):
			t.Fatalf("round trip of %d bytes: %v", len(plain), err)
		}
		if out, err := inflate(raw, limit); len(out) > limit || (err == nil && out == nil) {
			t.Fatalf("raw input: %d bytes, %v", len(out), err)
		}
	})
}
