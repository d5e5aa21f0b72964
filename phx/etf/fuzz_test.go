package etf

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode: it must never panic, and
// whatever it accepts must encode again and decode to the same value.
// The seed corpus is every vector in testdata/vectors.json plus the
// files under testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	if raw, err := os.ReadFile("testdata/vectors.json"); err == nil {
		var vf vectorFile
		if json.Unmarshal(raw, &vf) == nil {
			for _, v := range vf.Vectors {
				if b, err := hex.DecodeString(v.Hex); err == nil {
					f.Add(b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dec := Decoder{MaxSize: 1 << 16, MaxDepth: 16}
		v, err := dec.Decode(b)
		if err != nil {
			return
		}
		out, err := Encoder{MaxDepth: 16}.Encode(v)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", v, err)
		}
		again, err := Decoder{MaxSize: 1 << 20, MaxDepth: 16}.Decode(out)
		if err != nil || !equal(again, v) {
			t.Fatalf("round trip of %#v: %#v, %v", v, again, err)
		}
	})
}
