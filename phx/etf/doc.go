// Package etf reads and writes Erlang's external term format, the bytes of
// :erlang.term_to_binary/1 and :erlang.binary_to_term/1. It knows the subset
// of terms that plain data uses (numbers, atoms, binaries, lists, tuples and
// maps) and refuses everything else, so it can read terms that arrive from
// untrusted places: Phoenix.Token payloads, or messages on a Redis channel
// shared with Elixir nodes.
//
// # Decoding
//
// Decode maps each term to a Go value:
//
//	Erlang term                          Go value
//	integer that fits in 64 bits         int64 (SMALL_INTEGER_EXT, INTEGER_EXT, SMALL_BIG_EXT, LARGE_BIG_EXT)
//	larger integer                       *big.Int
//	float                                float64 (NEW_FLOAT_EXT, and the old textual FLOAT_EXT)
//	atom nil, true, false                nil, true, false
//	any other atom                       Atom (ATOM_EXT, SMALL_ATOM_EXT, ATOM_UTF8_EXT, SMALL_ATOM_UTF8_EXT)
//	binary                               string (the bytes as they are; not checked for UTF-8)
//	proper list, [] included             []any (never nil, so [] and nil stay apart)
//	list of bytes (STRING_EXT)           []any of int64, as Erlang sees it: 'abc' is [97, 98, 99]
//	tuple                                Tuple
//	map                                  map[any]any
//
// Map keys must be scalar: Atom, string, int64, float64, nil, true or
// false. A map whose key is a list, tuple, map or big integer is refused
// (Go cannot use it as a key), as is a map that repeats a key.
//
// Atoms in the latin-1 encodings are converted to UTF-8, so an atom reads
// the same whichever encoding its writer chose (OTP 25 writes ATOM_EXT for
// latin-1 atoms, OTP 26 and later write the UTF-8 tags). Atoms are never
// interned: each decoded atom is a fresh string.
//
// Refused with an error that wraps ErrUnsupported: improper lists, bit
// strings that are not whole bytes, pids, ports, references, funs, exports
// and any tag this package does not know. Trailing bytes after the term are
// refused too (binary_to_term ignores them; nothing honest writes them).
//
// # Limits
//
// Decode never panics and never allocates from a length field before
// checking that the rest of the input can hold that many elements. A
// Decoder bounds the input size (and the size of a compressed term once
// inflated: the declared size is checked before inflating and enforced
// while inflating) and the nesting depth. The zero Decoder uses
// DefaultMaxSize and DefaultMaxDepth.
//
// # Encoding
//
// Encode is the inverse for the same types, and accepts a few more Go
// types for convenience: every integer type, float32, []byte (a binary),
// slices and arrays (lists), and maps of any Go type whose keys are
// scalars (numbers, atoms, nil, booleans, strings), the keys Decode
// returns. It writes what OTP writes for the same term: the smallest
// integer encoding, NEW_FLOAT_EXT, STRING_EXT for a list of at most 65535
// integers from 0 to 255, and map entries sorted in Erlang term order
// (numbers, then atoms, then binaries), which is the order OTP uses for
// maps of up to 32 keys. Atoms are written with the UTF-8 tags as OTP 26
// does; Encoder.Latin1Atoms writes latin-1 atoms with ATOM_EXT as OTP 25
// does, so that Go can produce the very bytes an OTP 25 node would.
// Atom("nil"), Atom("true") and Atom("false") are written as the atoms
// they name, so they decode as nil, true and false.
package etf
