package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrUnencodable is wrapped by the errors of Encode: a Go value with no
// term to stand for it (a channel, a NaN, a cycle deeper than the limit …).
var ErrUnencodable = errors.New("etf: value cannot be encoded")

// Encoder encodes Go values as terms. Its zero value writes what
// term_to_binary/1 writes on OTP 26 and later.
type Encoder struct {
	// Latin1Atoms writes atoms that are all latin-1 with ATOM_EXT, as
	// term_to_binary/1 does on OTP 25 and earlier.
	Latin1Atoms bool
	// Compress, from 1 to 9, is the zlib level of term_to_binary's
	// {compressed, Level}; 0 leaves the term uncompressed. As OTP does,
	// the compressed form is used only when it is smaller.
	Compress int
	// MaxDepth bounds the nesting of lists, tuples and maps (and so ends
	// cycles). 0 means DefaultMaxDepth.
	MaxDepth int
}

// Encode encodes v with the zero Encoder.
func Encode(v any) ([]byte, error) { return Encoder{}.Encode(v) }

// Encode encodes v, starting with the version byte 131.
func (e Encoder) Encode(v any) ([]byte, error) {
	w := writer{enc: e, buf: []byte{tagVersion}, maxDepth: e.MaxDepth}
	if w.maxDepth <= 0 {
		w.maxDepth = DefaultMaxDepth
	}
	if err := w.term(v, 0); err != nil {
		return nil, err
	}
	if e.Compress <= 0 {
		return w.buf, nil
	}
	var z bytes.Buffer
	z.Write([]byte{tagVersion, tagCompressed, 0, 0, 0, 0})
	binary.BigEndian.PutUint32(z.Bytes()[2:], uint32(len(w.buf)-1))
	zw, err := zlib.NewWriterLevel(&z, min(e.Compress, zlib.BestCompression))
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(w.buf[1:]); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if z.Len() < len(w.buf) {
		return z.Bytes(), nil
	}
	return w.buf, nil
}

type writer struct {
	enc      Encoder
	buf      []byte
	maxDepth int
}

func unencodable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnencodable}, args...)...)
}

func (w *writer) term(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		w.atom("nil")
	case bool:
		if x {
			w.atom("true")
		} else {
			w.atom("false")
		}
	case Atom:
		if len(x) > maxAtomUTF8Bytes || !utf8.ValidString(string(x)) || utf8.RuneCountInString(string(x)) > maxAtomChars {
			return unencodable("atom not valid UTF-8 of at most 255 characters")
		}
		w.atom(string(x))
	case string:
		w.binary(x)
	case []byte:
		w.binary(string(x))
	case int64:
		w.int(x)
	case int:
		w.int(int64(x))
	case *big.Int:
		if x == nil {
			return unencodable("nil *big.Int")
		}
		w.bigInt(x)
	case float64:
		return w.float(x)
	case float32:
		return w.float(float64(x))
	default:
		if depth >= w.maxDepth {
			return unencodable("nested deeper than %d", w.maxDepth)
		}
		switch x := v.(type) {
		case Tuple:
			return w.tuple(x, depth)
		case []any:
			return w.list(x, depth)
		case map[any]any:
			return w.mapTerm(reflect.ValueOf(x), depth)
		case map[string]any:
			return w.mapTerm(reflect.ValueOf(x), depth)
		}
		return w.reflected(reflect.ValueOf(v), depth)
	}
	return nil
}

// reflected encodes the other integer kinds, slices, arrays and maps.
func (w *writer) reflected(rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.int(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u <= math.MaxInt64 {
			w.int(int64(u))
		} else {
			w.bigInt(new(big.Int).SetUint64(u))
		}
	case reflect.Float32, reflect.Float64:
		return w.float(rv.Float())
	case reflect.String:
		w.binary(rv.String())
	case reflect.Bool:
		return w.term(rv.Bool(), depth)
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			w.binary(string(rv.Bytes()))
			return nil
		}
		items := make([]any, rv.Len())
		for i := range items {
			items[i] = rv.Index(i).Interface()
		}
		return w.list(items, depth)
	case reflect.Map:
		return w.mapTerm(rv, depth)
	default:
		return unencodable("Go type %s", rv.Type())
	}
	return nil
}

func (w *writer) atom(s string) {
	if w.enc.Latin1Atoms && isLatin1(s) {
		// OTP 25 writes every latin-1 atom with ATOM_EXT, short ones too.
		n := utf8.RuneCountInString(s)
		w.buf = append(w.buf, tagAtom, byte(n>>8), byte(n))
		for _, r := range s {
			w.buf = append(w.buf, byte(r))
		}
		return
	}
	if len(s) < 256 {
		w.buf = append(w.buf, tagSmallAtomUTF8, byte(len(s)))
	} else {
		w.buf = append(w.buf, tagAtomUTF8, byte(len(s)>>8), byte(len(s)))
	}
	w.buf = append(w.buf, s...)
}

func isLatin1(s string) bool {
	for _, r := range s {
		if r > 0xff {
			return false
		}
	}
	return true
}

func (w *writer) binary(s string) {
	w.buf = append(w.buf, tagBinary)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(s)))
	w.buf = append(w.buf, s...)
}

func (w *writer) int(v int64) {
	switch {
	case v >= 0 && v <= 255:
		w.buf = append(w.buf, tagSmallInteger, byte(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		w.buf = append(w.buf, tagInteger)
		w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(int32(v)))
	default:
		w.bigInt(big.NewInt(v))
	}
}

func (w *writer) bigInt(v *big.Int) {
	if v.IsInt64() && v.Int64() >= math.MinInt32 && v.Int64() <= math.MaxInt32 {
		w.int(v.Int64())
		return
	}
	be := new(big.Int).Abs(v).Bytes()
	if len(be) < 256 {
		w.buf = append(w.buf, tagSmallBig, byte(len(be)))
	} else {
		w.buf = append(w.buf, tagLargeBig)
		w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(be)))
	}
	sign := byte(0)
	if v.Sign() < 0 {
		sign = 1
	}
	w.buf = append(w.buf, sign)
	for i := len(be) - 1; i >= 0; i-- {
		w.buf = append(w.buf, be[i])
	}
}

func (w *writer) float(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return unencodable("float %v", f)
	}
	w.buf = append(w.buf, tagNewFloat)
	w.buf = binary.BigEndian.AppendUint64(w.buf, math.Float64bits(f))
	return nil
}

func (w *writer) tuple(t Tuple, depth int) error {
	if len(t) < 256 {
		w.buf = append(w.buf, tagSmallTuple, byte(len(t)))
	} else {
		w.buf = append(w.buf, tagLargeTuple)
		w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(t)))
	}
	for _, x := range t {
		if err := w.term(x, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) list(items []any, depth int) error {
	if len(items) == 0 {
		w.buf = append(w.buf, tagNil)
		return nil
	}
	if s, ok := byteList(items); ok {
		w.buf = append(w.buf, tagString, byte(len(s)>>8), byte(len(s)))
		w.buf = append(w.buf, s...)
		return nil
	}
	w.buf = append(w.buf, tagList)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(items)))
	for _, x := range items {
		if err := w.term(x, depth+1); err != nil {
			return err
		}
	}
	w.buf = append(w.buf, tagNil)
	return nil
}

// byteList reports whether items is a list OTP writes as STRING_EXT.
func byteList(items []any) ([]byte, bool) {
	if len(items) > math.MaxUint16 {
		return nil, false
	}
	out := make([]byte, len(items))
	for i, x := range items {
		var v int64
		switch n := x.(type) {
		case int64:
			v = n
		case int:
			v = int64(n)
		default:
			rv := reflect.ValueOf(x)
			switch rv.Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32:
				v = rv.Int()
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				if rv.Uint() > 255 {
					return nil, false
				}
				v = int64(rv.Uint())
			default:
				return nil, false
			}
		}
		if v < 0 || v > 255 {
			return nil, false
		}
		out[i] = byte(v)
	}
	return out, true
}

type mapEntry struct {
	key, val any
}

func (w *writer) mapTerm(rv reflect.Value, depth int) error {
	entries := make([]mapEntry, 0, rv.Len())
	it := rv.MapRange()
	for it.Next() {
		k := it.Key().Interface()
		if _, _, _, _, err := keyClass(k); err != nil {
			return err
		}
		entries = append(entries, mapEntry{k, it.Value().Interface()})
	}
	var sortErr error
	slices.SortFunc(entries, func(a, b mapEntry) int {
		c, err := compareKeys(a.key, b.key)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		return c
	})
	if sortErr != nil {
		return sortErr
	}
	w.buf = append(w.buf, tagMap)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(entries)))
	for _, e := range entries {
		if err := w.term(e.key, depth+1); err != nil {
			return err
		}
		if err := w.term(e.val, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// Term order classes of the map keys Encode sorts.
const (
	classNumber = iota
	classAtom
	classBinary
)

// keyClass gives a key's term order class and its comparable form: a
// *big.Float (exact) for numbers, the name for atoms, the bytes for
// binaries. isInt tells integers from floats, which sort first when equal.
func keyClass(k any) (class int, num *big.Float, text string, isInt bool, err error) {
	switch x := k.(type) {
	case nil:
		return classAtom, nil, "nil", false, nil
	case bool:
		if x {
			return classAtom, nil, "true", false, nil
		}
		return classAtom, nil, "false", false, nil
	case Atom:
		return classAtom, nil, string(x), false, nil
	case *big.Int:
		if x == nil {
			return 0, nil, "", false, unencodable("nil *big.Int key")
		}
		return classNumber, new(big.Float).SetInt(x), "", true, nil
	}
	rv := reflect.ValueOf(k)
	switch rv.Kind() {
	case reflect.String:
		return classBinary, nil, rv.String(), false, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return classNumber, new(big.Float).SetInt64(rv.Int()), "", true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return classNumber, new(big.Float).SetInt(new(big.Int).SetUint64(rv.Uint())), "", true, nil
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, nil, "", false, unencodable("float key %v", f)
		}
		return classNumber, new(big.Float).SetFloat64(f), "", false, nil
	}
	return 0, nil, "", false, unencodable("map key of type %T", k)
}

func compareKeys(a, b any) (int, error) {
	ca, na, ta, ia, err := keyClass(a)
	if err != nil {
		return 0, err
	}
	cb, nb, tb, ib, err := keyClass(b)
	if err != nil {
		return 0, err
	}
	if ca != cb {
		return ca - cb, nil
	}
	if ca != classNumber {
		return strings.Compare(ta, tb), nil
	}
	if c := na.Cmp(nb); c != 0 {
		return c, nil
	}
	switch {
	case ia && !ib:
		return -1, nil
	case !ia && ib:
		return 1, nil
	}
	return 0, nil
}
