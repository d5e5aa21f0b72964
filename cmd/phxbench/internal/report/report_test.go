package report

import (
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
)

// A phase shorter than one timeline step (here every join in the first
// slot) leaves one point per series; the chart must still show it.
func TestChartSinglePointIsDrawn(t *testing.T) {
	r := &engine.Result{StepS: 0.25, Timeline: []engine.TimelinePoint{
		{T: 0, Latency: map[string][3]float64{"join": {120, 400, 900}}, Counts: map[string]int64{"joins": 10}},
		{T: 0.25, Latency: map[string][3]float64{}, Counts: map[string]int64{}},
	}}
	svg := latencyOverTime(r, "join")
	if svg == "" {
		t.Fatal("no chart for a one-slot phase")
	}
	if n := strings.Count(svg, "<circle"); n != 3 {
		t.Errorf("%d point markers, want 3 (p50, p99, max):\n%s", n, svg)
	}
	// Two or more points are drawn by the line alone.
	r.Timeline[1].Latency["join"] = [3]float64{100, 300, 800}
	if n := strings.Count(latencyOverTime(r, "join"), "<circle"); n != 0 {
		t.Errorf("%d point markers on a two-point line, want 0", n)
	}
}
