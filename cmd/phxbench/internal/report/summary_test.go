package report

import (
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
)

// The summary says why there is no RSS per socket instead of printing a
// negative size.
func TestServerLinesRSSBelowStart(t *testing.T) {
	r := &engine.Result{Server: &engine.ServerCost{PID: 7, RSSStart: 100 << 20, RSSEnd: 90 << 20, RSSBelowStart: true}}
	var b strings.Builder
	serverLines(&b, r)
	out := b.String()
	if !strings.Contains(out, "n/a (RSS fell below baseline) per open socket") {
		t.Errorf("summary does not explain the missing figure:\n%s", out)
	}
	if strings.Contains(out, "-") && strings.Contains(out, "KiB per open socket") {
		t.Errorf("summary prints a negative size per socket:\n%s", out)
	}
}
