package phxredis

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Term format tags the skimmer knows beyond plain data: the ones
// Phoenix.Tracker's messages carry (pids, references, ports, funs).
const (
	skNewFloat    = 70
	skBitBinary   = 77
	skNewPort     = 89
	skNewerRef    = 90
	skNewPid      = 88
	skSmallInt    = 97
	skInt         = 98
	skFloat       = 99
	skAtom        = 100
	skRef         = 101
	skPort        = 102
	skPid         = 103
	skSmallTuple  = 104
	skLargeTuple  = 105
	skNil         = 106
	skString      = 107
	skList        = 108
	skBinary      = 109
	skSmallBig    = 110
	skLargeBig    = 111
	skNewFun      = 112
	skExport      = 113
	skNewRef      = 114
	skSmallAtom   = 115
	skMap         = 116
	skFun         = 117
	skAtomUTF8    = 118
	skSmallAtomU8 = 119
	skV4Port      = 120
	skMaxDepth    = 64
)

var errSkim = errors.New("malformed term")

// idTail is the size of what follows the node atom in a pid, port or old
// reference.
var idTail = [256]int{skNewPid: 12, skPid: 9, skRef: 5, skNewPort: 8, skPort: 5, skV4Port: 12}

// inflateTerm expands the body of a compressed term (tag 80, 4-byte
// size, zlib data) into at most max bytes: the declared size is checked
// before inflating and enforced while inflating, so a small bomb costs
// no more than max.
func inflateTerm(b []byte, max int) ([]byte, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("%w: compressed term ends early", errSkim)
	}
	size := binary.BigEndian.Uint32(b[1:5])
	if uint64(size) > uint64(max) {
		return nil, fmt.Errorf("%w: inflates to %d bytes, limit %d", errPhxTooLarge, size, max)
	}
	zr, err := zlib.NewReader(bytes.NewReader(b[5:]))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSkim, err)
	}
	defer zr.Close()
	out := bytes.NewBuffer(make([]byte, 0, min(int(size), 64<<10)))
	n, err := io.Copy(out, io.LimitReader(zr, int64(size)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSkim, err)
	}
	if n != int64(size) {
		return nil, fmt.Errorf("%w: declared %d bytes, inflated %d or more", errSkim, size, n)
	}
	return out.Bytes(), nil
}

// skimTuple finds the elements of the tuple of arity n that b (a term
// without its version byte) holds in full, without decoding them: it
// returns each element's bytes. It walks every tag a node may write,
// pids and references included, so that a message can be classified by
// its dispatcher before anything in it is decoded.
func skimTuple(b []byte, n int) ([][]byte, error) {
	if len(b) < 2 || b[0] != skSmallTuple || int(b[1]) != n {
		return nil, fmt.Errorf("%w: not a tuple of %d elements", errSkim, n)
	}
	out := make([][]byte, n)
	i := 2
	for k := range n {
		end, err := skim(b, i, 1)
		if err != nil {
			return nil, err
		}
		out[k] = b[i:end]
		i = end
	}
	if i != len(b) {
		return nil, fmt.Errorf("%w: %d bytes after the term", errSkim, len(b)-i)
	}
	return out, nil
}

// skim returns the offset just past the term that starts at b[i].
func skim(b []byte, i, depth int) (int, error) {
	if depth > skMaxDepth {
		return 0, fmt.Errorf("%w: nested too deep", errSkim)
	}
	if i >= len(b) {
		return 0, fmt.Errorf("%w: ends early", errSkim)
	}
	// fixed returns i+k when the input holds k more bytes.
	fixed := func(at, k int) (int, error) {
		if k < 0 || at+k > len(b) || at+k < at {
			return 0, fmt.Errorf("%w: ends early", errSkim)
		}
		return at + k, nil
	}
	u8 := func(at int) (int, error) {
		if at+1 > len(b) {
			return 0, fmt.Errorf("%w: ends early", errSkim)
		}
		return int(b[at]), nil
	}
	u16 := func(at int) (int, error) {
		if at+2 > len(b) {
			return 0, fmt.Errorf("%w: ends early", errSkim)
		}
		return int(binary.BigEndian.Uint16(b[at:])), nil
	}
	u32 := func(at int) (int, error) {
		if at+4 > len(b) {
			return 0, fmt.Errorf("%w: ends early", errSkim)
		}
		return int(binary.BigEndian.Uint32(b[at:])), nil
	}
	// seq skims count terms from at on.
	seq := func(at, count int) (int, error) {
		if count > len(b)-at { // every term takes a byte at least
			return 0, fmt.Errorf("%w: %d elements in %d bytes", errSkim, count, len(b)-at)
		}
		var err error
		for range count {
			if at, err = skim(b, at, depth+1); err != nil {
				return 0, err
			}
		}
		return at, nil
	}
	tag := b[i]
	switch tag {
	case skSmallInt:
		return fixed(i+1, 1)
	case skInt:
		return fixed(i+1, 4)
	case skNewFloat:
		return fixed(i+1, 8)
	case skFloat:
		return fixed(i+1, 31)
	case skNil:
		return i + 1, nil
	case skAtom, skAtomUTF8, skString:
		n, err := u16(i + 1)
		if err != nil {
			return 0, err
		}
		return fixed(i+3, n)
	case skSmallAtom, skSmallAtomU8:
		n, err := u8(i + 1)
		if err != nil {
			return 0, err
		}
		return fixed(i+2, n)
	case skBinary:
		n, err := u32(i + 1)
		if err != nil {
			return 0, err
		}
		return fixed(i+5, n)
	case skBitBinary:
		n, err := u32(i + 1)
		if err != nil {
			return 0, err
		}
		return fixed(i+6, n)
	case skSmallBig:
		n, err := u8(i + 1)
		if err != nil {
			return 0, err
		}
		return fixed(i+3, n)
	case skLargeBig:
		n, err := u32(i + 1)
		if err != nil {
			return 0, err
		}
		return fixed(i+6, n)
	case skSmallTuple:
		n, err := u8(i + 1)
		if err != nil {
			return 0, err
		}
		return seq(i+2, n)
	case skLargeTuple:
		n, err := u32(i + 1)
		if err != nil {
			return 0, err
		}
		return seq(i+5, n)
	case skList:
		n, err := u32(i + 1)
		if err != nil {
			return 0, err
		}
		return seq(i+5, n+1) // the elements and the tail
	case skMap:
		n, err := u32(i + 1)
		if err != nil {
			return 0, err
		}
		return seq(i+5, 2*n)
	case skNewPid, skPid, skRef, skNewPort, skPort, skV4Port:
		at, err := skim(b, i+1, depth+1) // the node, an atom
		if err != nil {
			return 0, err
		}
		return fixed(at, idTail[tag])
	case skNewerRef, skNewRef:
		n, err := u16(i + 1)
		if err != nil {
			return 0, err
		}
		at, err := skim(b, i+3, depth+1)
		if err != nil {
			return 0, err
		}
		creation := 4
		if tag == skNewRef {
			creation = 1
		}
		return fixed(at, creation+4*n)
	case skExport:
		return seq(i+1, 3)
	case skNewFun:
		n, err := u32(i + 1) // counts itself, not the tag
		if err != nil {
			return 0, err
		}
		if n < 4 {
			return 0, fmt.Errorf("%w: fun size %d", errSkim, n)
		}
		return fixed(i+1, n)
	case skFun:
		free, err := u32(i + 1)
		if err != nil {
			return 0, err
		}
		return seq(i+5, 4+free) // pid, module, index, uniq, free variables
	}
	return 0, fmt.Errorf("%w: unknown tag %d at byte %d", errSkim, tag, i)
}
