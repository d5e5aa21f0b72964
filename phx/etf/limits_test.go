package etf

import (
	"bytes"
	"errors"
	"testing"
)

// nestedTuples is n one-element tuples around the integer 1.
func nestedTuples(n int) []byte {
	b := append([]byte{131}, bytes.Repeat([]byte{104, 1}, n)...)
	return append(b, 97, 1)
}

// The zero Decoder's limits, at and one past each bound.
func TestDecodeLimitEdges(t *testing.T) {
	if _, err := Decode(nestedTuples(DefaultMaxDepth)); err != nil {
		t.Errorf("%d nested tuples (the depth bound): %v", DefaultMaxDepth, err)
	}
	if _, err := Decode(nestedTuples(DefaultMaxDepth + 1)); !errors.Is(err, ErrTooDeep) {
		t.Errorf("%d nested tuples: %v, want ErrTooDeep", DefaultMaxDepth+1, err)
	}
	// A binary term of exactly DefaultMaxSize bytes in all, then one more.
	binTerm := func(total int) []byte {
		n := total - 6 // version, tag, 4-byte length
		b := []byte{131, 109, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		return append(b, make([]byte, n)...)
	}
	if _, err := Decode(binTerm(DefaultMaxSize)); err != nil {
		t.Errorf("a %d-byte term (the size bound): %v", DefaultMaxSize, err)
	}
	if _, err := Decode(binTerm(DefaultMaxSize + 1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("a %d-byte term: %v, want ErrTooLarge", DefaultMaxSize+1, err)
	}
}
