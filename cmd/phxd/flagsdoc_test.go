package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestFlagsDocumented keeps cmd/phxd/README.md's flag table in step with
// the flags phxd defines: every flag -help lists has a row.
func TestFlagsDocumented(t *testing.T) {
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-help"}, &help); err == nil {
		t.Fatal("-help parsed without flag.ErrHelp")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(help.String(), -1)
	if len(names) < 20 {
		t.Fatalf("found only %d flags in -help output:\n%s", len(names), help.String())
	}
	for _, m := range names {
		if !strings.Contains(string(readme), "| `-"+m[1]) {
			t.Errorf("flag -%s has no row in cmd/phxd/README.md's flag table", m[1])
		}
	}
}
