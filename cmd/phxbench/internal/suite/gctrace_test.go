package suite

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
)

const sampleTrace = `time=2026-12-06T08:00:00Z level=WARN msg="something else"
gc 1 @0.012s 2%: 0.015+1.2+0.003 ms clock, 0.030+0.5/1.0/0.2+0.006 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 2 @3.100s 1%: 0.100+2.0+0.200 ms clock, 0.200+1.0/2.0/0.5+0.300 ms cpu, 8->9->3 MB, 9 MB goal, 0 MB stacks, 0 MB globals, 2 P
gc 3 @5.600s 1%: 0.050+1.0+0.050 ms clock, 0.100+0.0/1.0/0.0+0.100 ms cpu, 8->9->3 MB, 9 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
`

func TestParseGCTrace(t *testing.T) {
	cs := parseGCTrace(sampleTrace)
	if len(cs) != 3 {
		t.Fatalf("%d cycles: %+v", len(cs), cs)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	c := cs[1]
	if !near(c.At, 3.1) || !near(c.WallS, 2.3e-3) || !near(c.STWS, 0.3e-3) || !near(c.CPUS, 4.0e-3) || c.Forced {
		t.Errorf("cycle 2: %+v", c)
	}
	if !cs[2].Forced {
		t.Error("cycle 3 not forced")
	}
}

// TestGCFigures: phxd started 1 s before the run, the echo window is
// 2–6 s of the run (3–7 s of phxd), so cycles 2 and 3 fall in it (at 2.1
// and 4.6 s of the run): two slots of four overlap them, and the one slot
// holding an echo over the run's p99 is one of them.
func TestGCFigures(t *testing.T) {
	h := hist.New(7)
	for range 98 {
		h.Record(int64(100 * time.Microsecond))
	}
	h.Record(int64(5 * time.Millisecond))
	h.Record(int64(5 * time.Millisecond))
	r := &engine.Result{
		Phases:  map[string]float64{"first_push": 2, "last_reply": 6},
		Latency: map[string]hist.Summary{"push:echo": h.Summary()},
		StepS:   0.25,
		Server:  &engine.ServerCost{Samples: []procstat.Sample{{T: 0, CPU: 0}, {T: 2, CPU: 1}, {T: 6, CPU: 1.4}}},
	}
	for _, pt := range []struct{ t, p99, max float64 }{{2, 5000, 5000}, {2.25, 100, 100}, {3, 100, 100}, {4.5, 100, 100}} {
		r.Timeline = append(r.Timeline, engine.TimelinePoint{T: pt.t, Latency: map[string][3]float64{"push:echo": {100, pt.p99, pt.max}}})
	}
	f := map[string]float64{}
	addGCFigures(f, parseGCTrace(sampleTrace), r, 1)
	want := map[string]float64{
		"gc_cycles": 2, "gc_cpu_s": 4.0e-3 + 1.2e-3, "gc_stw_max_us": 300,
		"gc_cpu_share_pct": 100 * 5.2e-3 / 0.4, // 0.4 s of phxd CPU in the window
		"gc_slots_pct":     50, "slow_slots_gc_pct": 100,
		"echo_p99_gc_slots_us": 2550, "echo_p99_other_slots_us": 100,
	}
	for k, v := range want {
		if math.Abs(f[k]-v) > 1e-6*math.Max(1, math.Abs(v)) {
			t.Errorf("%s = %v, want %v", k, f[k], v)
		}
	}
}

// TestRedoGCFigures: -render keeps a run's GC figures when it cannot
// recompute them (no phxd start recorded), and recomputes them from the log
// when it can.
func TestRedoGCFigures(t *testing.T) {
	r := &engine.Result{
		Started: time.Unix(100, 0),
		Phases:  map[string]float64{"first_push": 2, "last_reply": 6},
		Server:  &engine.ServerCost{Samples: []procstat.Sample{{T: 0, CPU: 0}, {T: 6, CPU: 1}}},
	}
	rec := &runRecord{Figures: map[string]float64{}}
	redoGCFigures(rec, map[string]float64{"gc_cycles": 7, "other": 1}, r, "/nonexistent")
	if rec.Figures["gc_cycles"] != 7 || rec.Figures["other"] != 0 {
		t.Errorf("kept: %v", rec.Figures)
	}
	log := t.TempDir() + "/phxd.log"
	if err := os.WriteFile(log, []byte(sampleTrace), 0o644); err != nil {
		t.Fatal(err)
	}
	rec = &runRecord{Figures: map[string]float64{}, PhxdAt: time.Unix(99, 0)}
	redoGCFigures(rec, map[string]float64{"gc_cycles": 7}, r, log)
	if rec.Figures["gc_cycles"] != 2 {
		t.Errorf("recomputed: %v", rec.Figures)
	}
}
