package serializer

import (
	"errors"
	"strings"
	"testing"
)

func TestParseVsn(t *testing.T) {
	cases := []struct {
		vsn  string
		want Version // 0: refused
	}{
		{"", V1},
		{"1.0.0", V1},
		{"1.0.5", V1},
		{"1.0.99999999999999999999999", V1}, // Elixir integers are unbounded
		{"1.0.0+build.7", V1},
		{"1.0.1-rc.1", V1},
		{"2.0.0", V2},
		{"2.0.7", V2},
		{"2.0.0+20260101", V2},
		{"2.0.1-alpha", V2},   // ~> 2.0.0 admits pre-releases of later patches (allow_pre: true)
		{"2.0.1-0.a-b.c", V2}, // numeric and hyphenated identifiers
		{"2.0.0-rc.1", 0},     // sorts before 2.0.0
		{"1.0.0-dev", 0},      // sorts before 1.0.0
		{"2.1.0", 0},          // outside ~> 2.0.0
		{"2.1.0-dev", 0},      // ~> never admits the upper bound's pre-releases
		{"1.1.0", 0},
		{"0.9.0", 0},
		{"3.0.0", 0},
		{"123.1.1", 0},
		{"2.0", 0}, // Version.parse needs three parts
		{"2", 0},
		{"2.0.0.0", 0},
		{"02.0.0", 0}, // leading zeros
		{"2.00.0", 0},
		{"2.0.00", 0},
		{"2.0.1-01", 0},  // leading zero in a numeric pre-release identifier
		{"2.0.0+01", V2}, // but allowed in build metadata
		{"2.0.0-", 0},
		{"2.0.0+", 0},
		{"2.0.0-a..b", 0},
		{"2.0.0-a_b", 0},
		{"2.0.0+a+b", 0},
		{" 2.0.0", 0},
		{"2.0.0 ", 0},
		{"v2.0.0", 0},
		{"-2.0.0", 0},
		{"2.0.x", 0},
		{"２.0.0", 0}, // fullwidth digit
		{"garbage", 0},
	}
	for _, c := range cases {
		got, err := ParseVsn(c.vsn)
		switch {
		case c.want != 0 && (err != nil || got != c.want):
			t.Errorf("ParseVsn(%q) = %v, %v; want %v", c.vsn, got, err, c.want)
		case c.want == 0 && (err == nil || !errors.Is(err, ErrUnsupportedVsn) || got != 0):
			t.Errorf("ParseVsn(%q) = %v, %v; want an ErrUnsupportedVsn", c.vsn, got, err)
		}
	}
}

func TestParseVsnErrorText(t *testing.T) {
	_, err := ParseVsn("123.1.1")
	if want := `serializer: vsn "123.1.1" matches neither ~> 1.0.0 nor ~> 2.0.0: serializer: unsupported vsn`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	_, err = ParseVsn(strings.Repeat("x", 1000))
	if err == nil || len(err.Error()) > 120 {
		t.Errorf("error for a 1000-byte vsn is %d bytes long", len(err.Error()))
	}
}

func TestVersionString(t *testing.T) {
	for v, want := range map[Version]string{V1: "v1", V2: "v2", 0: "Version(0)", 7: "Version(7)"} {
		if v.String() != want {
			t.Errorf("%d: %q", v, v.String())
		}
	}
}
