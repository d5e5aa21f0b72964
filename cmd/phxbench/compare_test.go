package main

import (
	"strings"
	"testing"
)

// TestCompareDispatch checks that "phxbench compare" reaches the compare
// command (its own tests are in internal/compare).
func TestCompareDispatch(t *testing.T) {
	var out, errb strings.Builder
	code := run([]string{"compare", "-a", "http://127.0.0.1:1"}, nil, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "phxbench compare: -a and -b are required") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := run([]string{"compare", "-print-scenario"}, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), `"name": "contract"`) {
		t.Errorf("-print-scenario: exit %d\n%s", code, out.String())
	}
}
