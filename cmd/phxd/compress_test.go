package main

import (
	"io"
	"testing"
)

func TestCompressFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		on   bool
	}{{nil, false}, {[]string{"-compress"}, true}, {[]string{"-compress=false"}, false}} {
		o, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := compressConfig(o).Enabled; got != tc.on {
			t.Errorf("%v: compression %v, want %v", tc.args, got, tc.on)
		}
	}
}
