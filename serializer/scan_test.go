package serializer

import (
	"encoding/json"
	"strings"
	"testing"
)

// validCases are compared with encoding/json.Valid, the reference for
// RFC 8259 syntax, except for unpairedSurrogates.
var validCases = []string{
	`0`, `-0`, `1`, `-1`, `10`, `1.5`, `-1.5e10`, `1E+2`, `1e-2`, `0.0`, `123456789012345678901234567890`,
	`01`, `-01`, `00`, `1.`, `.5`, `-`, `+1`, `1e`, `1e+`, `1.e5`, `0x1`, `1_000`, `Infinity`, `NaN`, `-Infinity`,
	`""`, `"a"`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u0000"`, `"\uD834\uDD1E"`, `"\udbff\udfff"`,
	`"\u12"`, `"\u12G4"`, `"\x"`, `"\'"`, "\"\x01\"", "\"\x1f\"", "\"\x7f\"", "\"\\n\x01\"", `"abc`, `"`, `"\`,
	`true`, `false`, `null`, `tru`, `nul`, `True`, `NULL`, `truex`,
	`[]`, `[ ]`, `[1]`, `[1,2]`, `[1,]`, `[,1]`, `[1 2]`, `[`, `]`, `[[[]]]`, `[[]`, `[]]`,
	`{}`, `{ }`, `{"a":1}`, `{"a":1,"b":[{}]}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{1:1}`, `{null:1}`,
	`{"a":1,null:2}`, `{"a":1 "b":2}`, `{"a":1}}`, `{`, `}`, `{"a"}`, `{"a":1,"a":2}`,
	` 1 `, "\t\n\r [ 1 ,\n 2 ] \n", ``, ` `, `1 2`, `[] []`, "\x00", `[1]x`, "[\"\xff\"]",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 9999) + "[]" + strings.Repeat("}", 9999),
	strings.Repeat(`{"a":`, 10000) + "[]" + strings.Repeat("}", 10000),
}

// unpairedSurrogates are valid RFC 8259 syntax that encoding/json accepts
// (reading U+FFFD) but Jason, and so Phoenix, rejects. We follow Jason.
var unpairedSurrogates = []string{
	`"\ud800"`, `"\uDBFF"`, `"\udc00"`, `"\uDFFF"`, `"\ud800x"`, `"\ud800\n"`, `"\ud800\u0041"`,
	`"\ud800\ud800\udc00"`, `"\udc00\ud800"`, `"\ud800\u"`, `"\ud800\udc0"`, `["\ud800"]`, `{"\udc00":1}`,
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	for _, c := range validCases {
		if got, want := valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("valid(%.60q) = %v, encoding/json says %v", c, got, want)
		}
	}
}

func TestScannerRejectsUnpairedSurrogates(t *testing.T) {
	for _, c := range unpairedSurrogates {
		if valid([]byte(c)) {
			t.Errorf("valid(%q) = true", c)
		}
		if c[0] == '"' && !json.Valid([]byte(c)) && c != `"\ud800\u"` && c != `"\ud800\udc0"` {
			t.Errorf("encoding/json rejects %q: the case does not show a difference", c)
		}
	}
}
