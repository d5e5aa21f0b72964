package suite

import (
	"math"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/baseline"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/floor"
)

// The floors' figures: the echo floor and phxd under the floor's client,
// and presence's bytes floor against phxd's whole-run CPU per join.
func TestFloorFigures(t *testing.T) {
	r := fakeResult(t, "echo", 1000, 1)
	r.Floor = &floor.Result{
		Echo:   &floor.EchoResult{CPUPerEchoUS: 20, P50US: 70, P99US: 180},
		Server: &floor.EchoResult{Echoes: 10000, CPUPerEchoUS: 33, P50US: 90, P99US: 252},
	}
	f := figuresOf(r)
	want := map[string]float64{"echo_floor_us": 20, "echo_floor_p99_us": 180, "echo_vs_floor": 118.0 / 20,
		"echo_p99_vs_floor": 900.0 / 180, "echo_fc_p50_us": 90, "echo_fc_p99_us": 252, "echo_fc_cpu_us": 33,
		"echo_fc_p99_vs_floor": 1.4}
	for k, v := range want {
		if math.Abs(f[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, f[k], v)
		}
	}
	// A floor-client run that measured nothing adds no figures.
	r.Floor.Server.Echoes = 0
	if f := figuresOf(r); f["echo_fc_p99_us"] != 0 || f["echo_fc_p99_vs_floor"] != 0 {
		t.Errorf("empty floor-client run gave figures %v", f)
	}

	p := fakeResult(t, "presence", 10000, 1) // 3 s of server CPU over 10,000 joins: 300 µs each
	p.Baseline = &baseline.Result{CPUPerWriteUS: 24, ServerCalls: 100000, CPUPerJoinUS: 240}
	f = figuresOf(p)
	if f["presence_floor_us"] != 240 || f["presence_floor_calls"] != 100000 || math.Abs(f["presence_vs_floor"]-1.25) > 1e-9 {
		t.Errorf("presence floor figures %v", f)
	}
}

// The suite's tables carry the new rows.
func TestFloorRows(t *testing.T) {
	md := suiteMarkdown(fakeSuite(t), "growth.svg")
	for _, want := range []string{"phxd with the floor's client: round trip p99", "phxd with the floor's client: p99 ÷ floor p99 (same client)",
		"bytes model: the bytes received in as many write(2) calls as phxd made, per join, same run", "server CPU per join, whole run ÷ bytes model"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}
