package engine

import (
	"bytes"
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

// skimPushV2 gives what the full decoder gives for the pushes it takes,
// and leaves everything else to the full decoder.
func TestSkimPushV2(t *testing.T) {
	for _, f := range []string{
		`[null,null,"room:bench","presence_diff",{"joins":{"u1":{"metas":[{"phx_ref":"x"}]}},"leaves":{}}]`,
		`["1",null,"room:bench","presence_state",{"u1":{"metas":[]}}]`,
		` [ "12" , "7" , "room:a" , "ev" , { "a" : [1, {"b": "]"}] } ] `,
		`[5,null,"t","e",{}]`,
	} {
		got, ok := skimPushV2([]byte(f))
		if !ok {
			t.Fatalf("skim refused %s", f)
		}
		want, err := serializer.DecodeServer(serializer.V2, []byte(f), false)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != want.Kind || !bytes.Equal(got.JoinRef, want.JoinRef) || !bytes.Equal(got.Ref, want.Ref) ||
			got.Topic != want.Topic || got.Event != want.Event || !bytes.Equal(got.Payload, want.Payload) {
			t.Errorf("%s: skim %+v, decoder %+v", f, got, want)
		}
	}
	for _, f := range []string{
		`["1","1","room:a","phx_reply",{"status":"ok","response":{}}]`, // replies: full decode
		`[null,null,"room:\"a","e",{}]`,                                // escapes: full decode
		`[null,null,42,"e",{}]`,                                        // a topic that is not a string
		`[null,null,"t","e",[1]]`,                                      // not an object
		`[null,null,"t","e",{}`,                                        // no closing bracket
		`[null,null,"t",{}]`,                                           // too few fields
		`{"topic":"t"}`,                                                // V1 shape
		``,
	} {
		if m, ok := skimPushV2([]byte(f)); ok {
			t.Errorf("skim took %q: %+v", f, m)
		}
	}
}

// Only V2 text frames of skimMin bytes or more are skimmed.
func TestSkimmable(t *testing.T) {
	small, big := make([]byte, skimMin-1), make([]byte, skimMin)
	for _, c := range []struct {
		v      serializer.Version
		p      []byte
		binary bool
		want   bool
	}{
		{serializer.V2, big, false, true},
		{serializer.V2, small, false, false},
		{serializer.V2, big, true, false},
		{serializer.V1, big, false, false},
	} {
		if got := skimmable(c.v, c.p, c.binary); got != c.want {
			t.Errorf("skimmable(%v, %d bytes, binary %v) = %v", c.v, len(c.p), c.binary, got)
		}
	}
}
