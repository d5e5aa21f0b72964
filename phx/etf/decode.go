package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// Atom is an Erlang atom other than nil, true and false.
type Atom string

// Tuple is an Erlang tuple.
type Tuple []any

// Term format tags.
const (
	tagVersion        = 131
	tagCompressed     = 80
	tagNewFloat       = 70
	tagBitBinary      = 77
	tagSmallInteger   = 97
	tagInteger        = 98
	tagFloat          = 99
	tagAtom           = 100
	tagSmallTuple     = 104
	tagLargeTuple     = 105
	tagNil            = 106
	tagString         = 107
	tagList           = 108
	tagBinary         = 109
	tagSmallBig       = 110
	tagLargeBig       = 111
	tagSmallAtom      = 115
	tagMap            = 116
	tagAtomUTF8       = 118
	tagSmallAtomUTF8  = 119
	maxAtomChars      = 255
	maxAtomUTF8Bytes  = 4 * maxAtomChars
	floatExtTextBytes = 31
)

// Defaults of the zero Decoder.
const (
	DefaultMaxSize  = 1 << 20
	DefaultMaxDepth = 64
)

// Errors wrapped by every decoding error; test them with errors.Is.
var (
	ErrTruncated   = errors.New("etf: term ends early")
	ErrTooLarge    = errors.New("etf: term larger than the limit")
	ErrTooDeep     = errors.New("etf: term nested deeper than the limit")
	ErrUnsupported = errors.New("etf: unsupported term")
	ErrMalformed   = errors.New("etf: malformed term")
)

// DecodeError says what is wrong with a term and where.
type DecodeError struct {
	Offset int    // byte offset in the (inflated) term
	Tag    byte   // the tag being read, 0 when none
	Err    error  // one of the Err* values above
	Detail string // human-readable detail
}

func (e *DecodeError) Error() string {
	msg := e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Tag != 0 {
		msg += fmt.Sprintf(" (tag %d)", e.Tag)
	}
	return fmt.Sprintf("%s at byte %d", msg, e.Offset)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decoder decodes terms within limits. Its zero value uses the defaults.
type Decoder struct {
	// MaxSize bounds the input and, for a compressed term, its inflated
	// size, in bytes. 0 means DefaultMaxSize.
	MaxSize int
	// MaxDepth bounds the nesting of lists, tuples and maps. 0 means
	// DefaultMaxDepth.
	MaxDepth int
}

// Decode decodes one term (starting with the version byte 131) with the
// default limits.
func Decode(b []byte) (any, error) { return Decoder{}.Decode(b) }

// Decode decodes one term, starting with the version byte 131.
func (d Decoder) Decode(b []byte) (any, error) {
	maxSize, maxDepth := d.MaxSize, d.MaxDepth
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if len(b) > maxSize {
		return nil, &DecodeError{Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, limit %d", len(b), maxSize)}
	}
	if len(b) == 0 {
		return nil, &DecodeError{Err: ErrTruncated}
	}
	if b[0] != tagVersion {
		return nil, &DecodeError{Err: ErrMalformed, Detail: fmt.Sprintf("version byte %d, want 131", b[0])}
	}
	body := b[1:]
	base := 1
	if len(body) > 0 && body[0] == tagCompressed {
		var err error
		if body, err = inflate(body, maxSize); err != nil {
			return nil, err
		}
		base = 0
	}
	r := reader{b: body, base: base, maxDepth: maxDepth}
	v, err := r.term(0)
	if err != nil {
		return nil, err
	}
	if r.pos != len(r.b) {
		return nil, r.fail(0, ErrMalformed, fmt.Sprintf("%d bytes after the term", len(r.b)-r.pos))
	}
	return v, nil
}

// inflate expands a compressed term (tag 80, 4-byte size, zlib data).
func inflate(b []byte, maxSize int) ([]byte, error) {
	if len(b) < 5 {
		return nil, &DecodeError{Offset: 1, Tag: tagCompressed, Err: ErrTruncated}
	}
	size := binary.BigEndian.Uint32(b[1:5])
	if uint64(size) > uint64(maxSize) {
		return nil, &DecodeError{Offset: 1, Tag: tagCompressed, Err: ErrTooLarge,
			Detail: fmt.Sprintf("inflates to %d bytes, limit %d", size, maxSize)}
	}
	zr, err := zlib.NewReader(bytes.NewReader(b[5:]))
	if err != nil {
		return nil, &DecodeError{Offset: 6, Tag: tagCompressed, Err: ErrMalformed, Detail: err.Error()}
	}
	defer zr.Close()
	// Read one byte more than announced, so that a stream that inflates
	// beyond its declared size is caught without reading all of it.
	out := make([]byte, 0, min(int(size), 64<<10))
	buf := bytes.NewBuffer(out)
	n, err := io.Copy(buf, io.LimitReader(zr, int64(size)+1))
	if err != nil {
		return nil, &DecodeError{Offset: 6, Tag: tagCompressed, Err: ErrMalformed, Detail: err.Error()}
	}
	if n != int64(size) {
		return nil, &DecodeError{Offset: 6, Tag: tagCompressed, Err: ErrMalformed,
			Detail: fmt.Sprintf("declared %d bytes, inflated %d or more", size, n)}
	}
	return buf.Bytes(), nil
}

type reader struct {
	b        []byte
	pos      int
	base     int // offset of b in the input, for error messages
	maxDepth int
}

func (r *reader) fail(tag byte, err error, detail string) error {
	return &DecodeError{Offset: r.base + r.pos, Tag: tag, Err: err, Detail: detail}
}

func (r *reader) need(tag byte, n int) error {
	if n < 0 || n > len(r.b)-r.pos {
		return r.fail(tag, ErrTruncated, "")
	}
	return nil
}

func (r *reader) u8(tag byte) (int, error) {
	if err := r.need(tag, 1); err != nil {
		return 0, err
	}
	r.pos++
	return int(r.b[r.pos-1]), nil
}

func (r *reader) u16(tag byte) (int, error) {
	if err := r.need(tag, 2); err != nil {
		return 0, err
	}
	r.pos += 2
	return int(binary.BigEndian.Uint16(r.b[r.pos-2:])), nil
}

func (r *reader) u32(tag byte) (uint32, error) {
	if err := r.need(tag, 4); err != nil {
		return 0, err
	}
	r.pos += 4
	return binary.BigEndian.Uint32(r.b[r.pos-4:]), nil
}

func (r *reader) bytes(tag byte, n int) ([]byte, error) {
	if err := r.need(tag, n); err != nil {
		return nil, err
	}
	r.pos += n
	return r.b[r.pos-n : r.pos], nil
}

// count reads an element count and checks that the rest of the input
// can hold that many elements of at least minBytes bytes each.
func (r *reader) count(tag byte, width, minBytes int) (int, error) {
	var n int
	if width == 1 {
		v, err := r.u8(tag)
		if err != nil {
			return 0, err
		}
		n = v
	} else {
		v, err := r.u32(tag)
		if err != nil {
			return 0, err
		}
		if uint64(v)*uint64(minBytes) > uint64(len(r.b)-r.pos) {
			return 0, r.fail(tag, ErrTruncated, fmt.Sprintf("%d elements announced", v))
		}
		n = int(v)
	}
	if n*minBytes > len(r.b)-r.pos {
		return 0, r.fail(tag, ErrTruncated, fmt.Sprintf("%d elements announced", n))
	}
	return n, nil
}

func (r *reader) term(depth int) (any, error) {
	tag8, err := r.u8(0)
	if err != nil {
		return nil, err
	}
	tag := byte(tag8)
	switch tag {
	case tagSmallInteger:
		v, err := r.u8(tag)
		return int64(v), err
	case tagInteger:
		v, err := r.u32(tag)
		return int64(int32(v)), err
	case tagNewFloat:
		b, err := r.bytes(tag, 8)
		if err != nil {
			return nil, err
		}
		f := math.Float64frombits(binary.BigEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, r.fail(tag, ErrMalformed, "float not finite")
		}
		return f, nil
	case tagFloat:
		return r.oldFloat()
	case tagSmallBig, tagLargeBig:
		return r.big(tag)
	case tagAtom, tagSmallAtom, tagAtomUTF8, tagSmallAtomUTF8:
		return r.atom(tag)
	case tagBinary:
		v, err := r.u32(tag)
		if err != nil {
			return nil, err
		}
		if uint64(v) > uint64(len(r.b)-r.pos) {
			return nil, r.fail(tag, ErrTruncated, fmt.Sprintf("binary of %d bytes announced", v))
		}
		b, err := r.bytes(tag, int(v))
		return string(b), err
	case tagNil:
		return []any{}, nil
	case tagString:
		n, err := r.u16(tag)
		if err != nil {
			return nil, err
		}
		b, err := r.bytes(tag, n)
		if err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i, c := range b {
			out[i] = int64(c)
		}
		return out, nil
	}
	if depth >= r.maxDepth {
		return nil, r.fail(tag, ErrTooDeep, fmt.Sprintf("limit %d", r.maxDepth))
	}
	switch tag {
	case tagSmallTuple, tagLargeTuple:
		width := 1
		if tag == tagLargeTuple {
			width = 4
		}
		n, err := r.count(tag, width, 1)
		if err != nil {
			return nil, err
		}
		out := make(Tuple, n)
		for i := range out {
			if out[i], err = r.term(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case tagList:
		n, err := r.count(tag, 4, 1)
		if err != nil {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.term(depth + 1); err != nil {
				return nil, err
			}
		}
		at := r.pos
		if t, err := r.u8(tag); err != nil {
			return nil, err
		} else if t != tagNil {
			r.pos = at
			return nil, r.fail(tag, ErrUnsupported, "improper list")
		}
		return out, nil
	case tagMap:
		return r.mapTerm(depth)
	}
	r.pos--
	return nil, r.fail(tag, ErrUnsupported, tagName(tag))
}

func (r *reader) oldFloat() (any, error) {
	b, err := r.bytes(tagFloat, floatExtTextBytes)
	if err != nil {
		return nil, err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	f, err := strconv.ParseFloat(string(bytes.TrimSpace(b)), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, r.fail(tagFloat, ErrMalformed, "bad float text")
	}
	return f, nil
}

func (r *reader) big(tag byte) (any, error) {
	var n int
	if tag == tagSmallBig {
		v, err := r.u8(tag)
		if err != nil {
			return nil, err
		}
		n = v
	} else {
		v, err := r.u32(tag)
		if err != nil {
			return nil, err
		}
		if uint64(v) >= uint64(len(r.b)-r.pos) {
			return nil, r.fail(tag, ErrTruncated, fmt.Sprintf("%d digit bytes announced", v))
		}
		n = int(v)
	}
	sign, err := r.u8(tag)
	if err != nil {
		return nil, err
	}
	if sign > 1 {
		return nil, r.fail(tag, ErrMalformed, "sign byte not 0 or 1")
	}
	digits, err := r.bytes(tag, n)
	if err != nil {
		return nil, err
	}
	// Digits are little-endian; big.Int wants big-endian.
	be := make([]byte, n)
	for i, c := range digits {
		be[n-1-i] = c
	}
	v := new(big.Int).SetBytes(be)
	if sign == 1 {
		v.Neg(v)
	}
	if v.IsInt64() {
		return v.Int64(), nil
	}
	return v, nil
}

func (r *reader) atom(tag byte) (any, error) {
	var n int
	var err error
	if tag == tagSmallAtom || tag == tagSmallAtomUTF8 {
		n, err = r.u8(tag)
	} else {
		n, err = r.u16(tag)
	}
	if err != nil {
		return nil, err
	}
	b, err := r.bytes(tag, n)
	if err != nil {
		return nil, err
	}
	var s string
	if tag == tagAtom || tag == tagSmallAtom {
		if n > maxAtomChars {
			return nil, r.fail(tag, ErrMalformed, "atom longer than 255 characters")
		}
		s = latin1(b)
	} else {
		if n > maxAtomUTF8Bytes || !utf8.Valid(b) || utf8.RuneCount(b) > maxAtomChars {
			return nil, r.fail(tag, ErrMalformed, "atom not valid UTF-8 of at most 255 characters")
		}
		s = string(b)
	}
	switch s {
	case "nil":
		return nil, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return Atom(s), nil
}

func latin1(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

func (r *reader) mapTerm(depth int) (any, error) {
	n, err := r.count(tagMap, 4, 2)
	if err != nil {
		return nil, err
	}
	out := make(map[any]any, n)
	for range n {
		at := r.pos
		k, err := r.term(depth + 1)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case Atom, string, int64, float64, nil, bool:
		default:
			r.pos = at
			return nil, r.fail(tagMap, ErrUnsupported, fmt.Sprintf("map key of type %T", k))
		}
		if _, dup := out[k]; dup {
			r.pos = at
			return nil, r.fail(tagMap, ErrMalformed, "repeated map key")
		}
		v, err := r.term(depth + 1)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func tagName(tag byte) string {
	switch tag {
	case tagBitBinary:
		return "bit string"
	case 88, 103:
		return "pid"
	case 89, 102:
		return "port"
	case 90, 101, 114:
		return "reference"
	case 112, 117:
		return "fun"
	case 113:
		return "export"
	case tagCompressed:
		return "nested compressed term"
	case 68:
		return "distribution header"
	}
	return "unknown tag"
}
