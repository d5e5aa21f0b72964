package etf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"math/big"
	"runtime"
	"strings"
	"testing"
)

func compressed(t *testing.T, declared uint32, body []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(body)
	zw.Close()
	out := []byte{131, 80}
	out = binary.BigEndian.AppendUint32(out, declared)
	return append(out, z.Bytes()...)
}

func TestDecodeRefuses(t *testing.T) {
	bigList := append([]byte{131, 108}, 0xff, 0xff, 0xff, 0xff) // 4 G elements announced
	deep := append(bytes.Repeat([]byte{131}, 1), bytes.Repeat([]byte{104, 1}, 100)...)
	deep = append(deep, 97, 1)
	cases := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty", nil, ErrTruncated},
		{"no version", []byte{97, 1}, ErrMalformed},
		{"version only", []byte{131}, ErrTruncated},
		{"trailing bytes", []byte{131, 97, 1, 0}, ErrMalformed},
		{"binary 4GB on 10 bytes", []byte{131, 109, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'}, ErrTruncated},
		{"list 4G elements", bigList, ErrTruncated},
		{"large tuple 4G", []byte{131, 105, 0xff, 0xff, 0xff, 0xff, 97, 1}, ErrTruncated},
		{"map 4G pairs", []byte{131, 116, 0xff, 0xff, 0xff, 0xff, 97, 1, 97, 2}, ErrTruncated},
		{"large big 4G", []byte{131, 111, 0xff, 0xff, 0xff, 0xff, 0, 1}, ErrTruncated},
		{"small big short", []byte{131, 110, 8, 0, 1, 2}, ErrTruncated},
		{"big bad sign", []byte{131, 110, 1, 2, 1}, ErrMalformed},
		{"string ext short", []byte{131, 107, 0, 9, 1}, ErrTruncated},
		{"atom short", []byte{131, 100, 0, 5, 'a'}, ErrTruncated},
		{"atom latin1 too long", append([]byte{131, 100, 1, 0}, bytes.Repeat([]byte{'a'}, 256)...), ErrMalformed},
		{"atom utf8 invalid", []byte{131, 119, 1, 0xff}, ErrMalformed},
		{"improper list", []byte{131, 108, 0, 0, 0, 1, 97, 1, 97, 2}, ErrUnsupported},
		{"list without tail", []byte{131, 108, 0, 0, 0, 1, 97, 1}, ErrTruncated},
		{"pid", []byte{131, 88, 119, 1, 'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, ErrUnsupported},
		{"bit binary", []byte{131, 77, 0, 0, 0, 1, 3, 0xe0}, ErrUnsupported},
		{"unknown tag", []byte{131, 200}, ErrUnsupported},
		{"tuple key", []byte{131, 116, 0, 0, 0, 1, 104, 0, 97, 1}, ErrUnsupported},
		{"repeated key", []byte{131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2}, ErrMalformed},
		{"nan", []byte{131, 70, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}, ErrMalformed},
		{"too deep", deep, ErrTooDeep},
		{"compressed declares 4GB", []byte{131, 80, 0xff, 0xff, 0xff, 0xff, 0x78, 0x9c}, ErrTooLarge},
		{"compressed inflates more", compressed(t, 2, []byte{97, 1, 0, 0, 0}), ErrMalformed},
		{"compressed inflates less", compressed(t, 9, []byte{97, 1}), ErrMalformed},
		{"compressed garbage", []byte{131, 80, 0, 0, 0, 2, 1, 2, 3}, ErrMalformed},
		{"compressed nested", compressed(t, 3, []byte{80, 0, 0}), ErrUnsupported},
		{"distribution header", []byte{131, 68, 0}, ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Decode(c.in)
			if !errors.Is(err, c.err) {
				t.Fatalf("got %#v, %v; want %v", v, err, c.err)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%T is not a *DecodeError", err)
			}
		})
	}
}

func TestDecodeLimits(t *testing.T) {
	in := append([]byte{131, 109, 0, 0, 0, 100}, make([]byte, 100)...)
	if _, err := (Decoder{MaxSize: 50}).Decode(in); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("MaxSize: %v", err)
	}
	if _, err := (Decoder{MaxSize: 200}).Decode(in); err != nil {
		t.Fatalf("within MaxSize: %v", err)
	}
	// A small compressed term that inflates past MaxSize.
	bomb := compressed(t, 1<<20, append([]byte{109, 0, 0x0f, 0xff, 0xfb}, make([]byte, 1<<20-5)...))
	if len(bomb) > 2000 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	if _, err := (Decoder{MaxSize: 1 << 19}).Decode(bomb); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v", err)
	}
	if v, err := Decode(bomb); err != nil || len(v.(string)) != 1<<20-5 {
		t.Fatalf("bomb within the default limit: %v", err)
	}
	nested := []byte{131, 104, 1, 104, 1, 97, 1}
	if _, err := (Decoder{MaxDepth: 1}).Decode(nested); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("MaxDepth 1: %v", err)
	}
	if _, err := (Decoder{MaxDepth: 2}).Decode(nested); err != nil {
		t.Fatalf("MaxDepth 2: %v", err)
	}
}

// TestDecodeNoEarlyAllocation checks that a length field is not trusted
// before the input can hold it.
func TestDecodeNoEarlyAllocation(t *testing.T) {
	in := []byte{131, 109, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'}
	allocs := testing.AllocsPerRun(100, func() { Decode(in) })
	if allocs > 5 {
		t.Fatalf("%v allocations", allocs)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		Decode(in)
	}
	runtime.ReadMemStats(&after)
	if perOp := (after.TotalAlloc - before.TotalAlloc) / 100; perOp > 1024 {
		t.Fatalf("%d bytes allocated per decode", perOp)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	values := []any{
		nil, true, false, Atom("ok"), Atom("ünï"), Atom(strings.Repeat("é", 255)), "", "x",
		int64(0), int64(255), int64(256), int64(-1), int64(1 << 40), int64(-1 << 63),
		pow2(64), new(big.Int).Neg(pow2(3000)), 1.25, -0.0,
		[]any{}, []any{int64(1), "a"}, []any{int64(1), int64(2)}, Tuple{}, rangeTuple(256),
		map[any]any{Atom("a"): int64(1), "b": nil, int64(3): 2.5, false: Tuple{Atom("x")}},
	}
	for _, enc := range []Encoder{{}, {Latin1Atoms: true}, {Compress: 6}} {
		for _, v := range values {
			b, err := enc.Encode(v)
			if err != nil {
				t.Fatalf("%#v: %v", v, err)
			}
			got, err := Decode(b)
			if err != nil || !equal(got, v) {
				t.Fatalf("%+v %#v: got %#v, %v", enc, v, got, err)
			}
		}
	}
}

func TestEncodeGoTypes(t *testing.T) {
	in := map[string]any{
		"ints":  []int{1, 300},
		"bytes": []byte("raw"),
		"u":     uint64(1 << 63),
		"f32":   float32(0.5),
		"m":     map[Atom]string{"k": "v"},
		"n":     int8(-3),
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[any]any{
		"ints": []any{int64(1), int64(300)}, "bytes": "raw", "u": pow2(63), "f32": 0.5,
		"m": map[any]any{Atom("k"): "v"}, "n": int64(-3),
	}
	if !equal(got, want) {
		t.Fatalf("got %#v", got)
	}
	for _, bad := range []any{make(chan int), func() {}, 1.0 / zero(), map[[2]int]int{{1, 2}: 3}, (*big.Int)(nil)} {
		if _, err := Encode(bad); !errors.Is(err, ErrUnencodable) {
			t.Errorf("%T: %v", bad, err)
		}
	}
	cyc := []any{nil}
	cyc[0] = cyc
	if _, err := Encode(cyc); !errors.Is(err, ErrUnencodable) {
		t.Errorf("cycle: %v", err)
	}
}

func zero() float64 { return 0 }
