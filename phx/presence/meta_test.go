package presence

import (
	stdjson "encoding/json"
	"errors"
	"testing"

	"github.com/phxgo/phxgo/phx"
)

// A map meta takes the one-encoding path; it must give byte for byte what
// the general path (encode, decode into fields, set the refs, encode)
// gives for the same meta as JSON text.
func TestBuildMetaMapMatchesGeneralPath(t *testing.T) {
	metas := []map[string]any{
		{},
		{"online_at": 1700000000000},
		{"z": 1, "a": "<b>&", "m": map[string]any{"y": []any{1.5, nil, true}, "b": "é\u2028"}},
		{"phx_ref": "app's", "phx_ref_prev": "app's too", "n": stdjson.Number("12345678901234567890")},
		{"": "empty key", "\t": "tab key", "ключ": 1},
	}
	for _, m := range metas {
		for _, prev := range []string{"", "RRRRRRRRRRRRRRRR"} {
			raw, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			want, err := buildMeta(phx.RawJSON(raw), "QQQQQQQQQQQQQQQQ", prev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := buildMeta(m, "QQQQQQQQQQQQQQQQ", prev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("meta %v prev %q:\n got %s\nwant %s", m, prev, got, want)
			}
		}
	}
	var nilMap map[string]any
	if _, err := buildMeta(nilMap, "QQQQQQQQQQQQQQQQ", ""); !errors.Is(err, ErrMeta) {
		t.Fatalf("nil map meta: %v, want ErrMeta (it encodes as null)", err)
	}
}
