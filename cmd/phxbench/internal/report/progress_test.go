package report

import (
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

// echoProgram compiles the echo built-in: 100 sockets ramped at 1000/s,
// pushing for 10 s (planned ≈ 0.1 s + 25 ms of start jitter + 10 s).
func echoProgram(t *testing.T) *scenario.Program {
	t.Helper()
	sc, ok, err := scenario.Builtin("echo", scenario.BuiltinOptions{URL: "ws://127.0.0.1:4000/socket/websocket", Vsn: "2.0.0",
		Token: "user:b{{id}}", N: 100, Rate: 2000, Ramp: 1000, D: 10 * time.Second})
	if !ok || err != nil {
		t.Fatalf("builtin: %v %v", ok, err)
	}
	p, err := scenario.Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPlannedDuration(t *testing.T) {
	p := echoProgram(t)
	check.Eq(t, "planned", p.Planned(), 100*time.Millisecond+25*time.Millisecond+10*time.Second)
	if b := p.Scenario.Duration.D(); p.Planned() >= b {
		t.Errorf("planned %v not below the hard bound %v", p.Planned(), b)
	}
}

// Halfway through the planned duration, with no client done yet, the bar
// is half full and the line shows the planned duration, not the bound.
func TestProgressAdvancesAgainstPlan(t *testing.T) {
	p := echoProgram(t)
	var b strings.Builder
	pr := NewProgress(&b, p)
	pr.start = time.Now().Add(-p.Planned() / 2)
	pr.Draw(engine.LiveSnapshot{Open: 100, Joined: 100})
	line := b.String()
	if !strings.Contains(line, "[##########..........]") {
		t.Errorf("bar not half full at half the planned time: %q", line)
	}
	if !strings.Contains(line, "5s/10s (limit ") {
		t.Errorf("line does not show elapsed against the planned 10 s: %q", line)
	}
}
