package etf

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
)

// vectorFile is testdata/vectors.json, written by testdata/gen/gen_vectors.exs
// with real Erlang/OTP.
type vectorFile struct {
	OTP     string `json:"otp"`
	Elixir  string `json:"elixir"`
	Vectors []struct {
		Set      string `json:"set"`
		Name     string `json:"name"`
		Encoding string `json:"encoding"`
		Hex      string `json:"hex"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(raw, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	return vf
}

func pow2(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }

func rangeTuple(n int) Tuple {
	t := make(Tuple, n)
	for i := range t {
		t[i] = int64(i)
	}
	return t
}

func map40() map[any]any {
	m := map[any]any{}
	for i := 1; i <= 40; i++ {
		m[fmt.Sprintf("k%d", i)] = int64(i)
	}
	return m
}

// expected holds the Go value of every term gen_vectors.exs encodes.
var expected = map[string]any{
	"int_small":          int64(42),
	"int_zero":           int64(0),
	"int_neg":            int64(-1),
	"int_32":             int64(100000),
	"int_min32":          int64(-2147483648),
	"int_max32":          int64(2147483647),
	"int_past32":         int64(2147483648),
	"int_max64":          int64(9223372036854775807),
	"int_min64":          int64(-9223372036854775808),
	"big_2_64":           pow2(64),
	"big_neg_2_64":       new(big.Int).Neg(pow2(64)),
	"big_2_2100":         pow2(2100),
	"big_neg_2_2100":     new(big.Int).Neg(pow2(2100)),
	"float":              1.5,
	"float_neg":          -0.25,
	"float_large":        1.0e300,
	"float_zero":         0.0,
	"atom":               Atom("ok"),
	"atom_nil":           nil,
	"atom_true":          true,
	"atom_false":         false,
	"atom_latin1":        Atom("héllo"),
	"atom_unicode":       Atom("日本"),
	"atom_255":           Atom(strings.Repeat("a", 255)),
	"atom_elixir_module": Atom("Elixir.Phoenix.Socket.Broadcast"),
	"bin_empty":          "",
	"bin":                "hello",
	"bin_utf8":           "José",
	"bin_raw":            "\x00\xff\x80",
	"bin_long":           strings.Repeat("abcdefgh", 200),
	"list_empty":         []any{},
	"list_bytes":         []any{int64(1), int64(2), int64(3)},
	"charlist":           []any{int64('a'), int64('b'), int64('c')},
	"list_mixed":         []any{int64(1), "a", Atom("b"), nil, 2.5},
	"list_ints":          []any{int64(256), int64(1), int64(-1)},
	"list_nested":        []any{[]any{int64(1)}, []any{[]any{int64(2), int64(3)}}, []any{}},
	"tuple_empty":        Tuple{},
	"tuple_ok":           Tuple{Atom("ok"), int64(1)},
	"tuple_large":        rangeTuple(300),
	"map_empty":          map[any]any{},
	"map_atom_keys":      map[any]any{Atom("a"): int64(1), Atom("b"): "x"},
	"map_binary_keys":    map[any]any{"a": int64(1), "b": []any{true, false}},
	"map_mixed_keys": map[any]any{int64(1): Atom("x"), 1.0: Atom("y"), Atom("a"): int64(1),
		"b": int64(2), nil: int64(0)},
	"map_nested": map[any]any{"user": map[any]any{Atom("id"): int64(5), Atom("tags"): []any{"x"}},
		"n": nil},
	"map_40_keys": map40(),
	"struct_broadcast": map[any]any{Atom("__struct__"): Atom("Elixir.Phoenix.Socket.Broadcast"),
		Atom("topic"): "room:1", Atom("event"): "new_msg", Atom("payload"): map[any]any{"body": "hi"}},
	"token_payload":     Tuple{int64(123), int64(1700000000000), int64(86400)},
	"token_payload_old": map[any]any{Atom("data"): "user:1", Atom("signed"): int64(1700000000000)},
}

// TestErlangVectors decodes every term real Erlang wrote, in every
// encoding, and checks that Encode writes the same bytes as OTP did for
// the uncompressed ones (maps of more than 32 keys excepted: OTP writes
// those in hash order).
func TestErlangVectors(t *testing.T) {
	vf := loadVectors(t)
	seen := map[string]bool{}
	for _, v := range vf.Vectors {
		name := v.Set + "/" + v.Name + "/" + v.Encoding
		b, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := Decode(b)
		if v.Set == "refused" {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s: got %#v, %v; want ErrUnsupported", name, got, err)
			}
			continue
		}
		want, ok := expected[v.Name]
		if !ok {
			t.Errorf("%s: no expected value in the test", name)
			continue
		}
		seen[v.Name] = true
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !equal(got, want) {
			t.Errorf("%s: got %#v, want %#v", name, got, want)
		}
		// minor_version 0 writes floats as text, which Encode never does;
		// its other terms are the same bytes as the default encoding's.
		if v.Encoding != "default" && v.Encoding != "minor2" || v.Name == "map_40_keys" {
			continue
		}
		enc := Encoder{Latin1Atoms: v.Encoding == "default"}
		out, err := enc.Encode(want)
		if err != nil {
			t.Errorf("%s: encode: %v", name, err)
		} else if hex.EncodeToString(out) != v.Hex {
			t.Errorf("%s: encode:\n got %x\nwant %s", name, out, v.Hex)
		}
	}
	for name := range expected {
		if !seen[name] {
			t.Errorf("%s: no vector", name)
		}
	}
}

// equal is reflect.DeepEqual that compares *big.Int by value.
func equal(a, b any) bool {
	switch x := a.(type) {
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equal([]any(x), []any(y))
	case map[any]any:
		y, ok := b.(map[any]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}
