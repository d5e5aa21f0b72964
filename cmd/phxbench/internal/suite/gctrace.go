package suite

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
)

// GC during the echo run (issue 13): phxd runs with GODEBUG=gctrace=1, so
// the runtime writes one line per GC cycle to its log, with the cycle's
// start (seconds since the process started), its wall-clock phases and
// its CPU. The suite sums the CPU of the cycles inside the echo window
// against phxd's CPU there (the GC's CPU share) and asks whether the slow
// echoes fall where the collector ran: the run's timeline gives each
// 250 ms slot's slowest echo, and the share of slots overlapping a cycle
// among the slots holding an echo slower than the run's p99 is set beside
// that share among all slots. If pauses made the p99, the first share
// would be far above the second.

// gcCycle is one gctrace line.
type gcCycle struct {
	At     float64 // start, seconds since phxd started
	WallS  float64 // sweep termination + concurrent mark + mark termination
	STWS   float64 // the two stop-the-world phases
	CPUS   float64 // every CPU component: STW, assists, background and idle marking
	Forced bool
}

var gcLine = regexp.MustCompile(`^gc \d+ @([0-9.]+)s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock, ([0-9.]+)\+([0-9.]+)/([0-9.]+)/([0-9.]+)\+([0-9.]+) ms cpu`)

// parseGCTrace reads the gctrace lines of a log.
func parseGCTrace(log string) []gcCycle {
	var cs []gcCycle
	for line := range strings.SplitSeq(log, "\n") {
		m := gcLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		v := make([]float64, len(m))
		for i := 1; i < len(m); i++ {
			v[i], _ = strconv.ParseFloat(m[i], 64)
		}
		cs = append(cs, gcCycle{
			At:     v[1],
			WallS:  (v[2] + v[3] + v[4]) / 1e3,
			STWS:   (v[2] + v[4]) / 1e3,
			CPUS:   (v[5] + v[6] + v[7] + v[8] + v[9]) / 1e3,
			Forced: strings.Contains(line, "(forced)"),
		})
	}
	return cs
}

// addGCFigures adds the GC figures of the echo window [first push, last
// reply], or of a run without pushes the join window [first connect, last
// join]; offset is the run's start minus phxd's, in seconds.
func addGCFigures(f map[string]float64, cs []gcCycle, r *engine.Result, offset float64) {
	from, to := r.Phases["first_push"], r.Phases["last_reply"]
	if to <= from {
		from, to = r.Phases["first_connect"], r.Phases["last_join"]
	}
	if f == nil || r.Server == nil || to <= from {
		return
	}
	type span struct{ a, b float64 }
	var in []span
	var cpu, stwMax float64
	for _, c := range cs {
		t := c.At - offset
		if t < from || t > to {
			continue
		}
		in = append(in, span{t, t + c.WallS})
		cpu += c.CPUS
		stwMax = max(stwMax, c.STWS)
	}
	f["gc_cycles"] = float64(len(in))
	f["gc_cpu_s"] = cpu
	f["gc_stw_max_us"] = stwMax * 1e6
	if srv := cpuAtT(r.Server.Samples, to) - cpuAtT(r.Server.Samples, from); srv > 0 {
		f["gc_cpu_share_pct"] = 100 * cpu / srv
	}
	p99 := r.Latency["push:echo"].P99
	var slots, gcSlots, slow, slowGC int
	var p99GC, p99Other []float64
	for _, pt := range r.Timeline {
		l, ok := pt.Latency["push:echo"]
		if !ok || pt.T < from || pt.T > to {
			continue
		}
		overlaps := slices.ContainsFunc(in, func(s span) bool { return s.a < pt.T+r.StepS && s.b >= pt.T })
		slots++
		if overlaps {
			gcSlots++
			p99GC = append(p99GC, l[1])
		} else {
			p99Other = append(p99Other, l[1])
		}
		if l[2] >= p99 {
			slow++
			if overlaps {
				slowGC++
			}
		}
	}
	if slots > 0 {
		f["gc_slots_pct"] = 100 * float64(gcSlots) / float64(slots)
	}
	if slow > 0 {
		f["slow_slots_gc_pct"] = 100 * float64(slowGC) / float64(slow)
	}
	if len(p99GC) > 0 {
		f["echo_p99_gc_slots_us"] = median(p99GC)
	}
	if len(p99Other) > 0 {
		f["echo_p99_other_slots_us"] = median(p99Other)
	}
}

// cpuAtT interpolates the sampled CPU seconds at t (seconds since the
// run's start).
func cpuAtT(s []procstat.Sample, t float64) float64 {
	if len(s) == 0 {
		return 0
	}
	i, _ := slices.BinarySearchFunc(s, t, func(x procstat.Sample, t float64) int {
		switch {
		case x.T < t:
			return -1
		case x.T > t:
			return 1
		}
		return 0
	})
	switch {
	case i == 0:
		return s[0].CPU
	case i >= len(s):
		return s[len(s)-1].CPU
	}
	a, b := s[i-1], s[i]
	if b.T <= a.T {
		return b.CPU
	}
	return a.CPU + (b.CPU-a.CPU)*(t-a.T)/(b.T-a.T)
}

// gcKeys are the figures addGCFigures sets.
var gcKeys = []string{"gc_cycles", "gc_cpu_s", "gc_stw_max_us", "gc_cpu_share_pct", "gc_slots_pct",
	"slow_slots_gc_pct", "echo_p99_gc_slots_us", "echo_p99_other_slots_us"}

// redoGCFigures sets a re-rendered run's GC figures: from phxd's log when
// the run recorded phxd's start, else the figures it had (old).
func redoGCFigures(rec *runRecord, old map[string]float64, r *engine.Result, logPath string) {
	if !rec.PhxdAt.IsZero() {
		if b, err := os.ReadFile(logPath); err == nil {
			addGCFigures(rec.Figures, parseGCTrace(string(b)), r, r.Started.Sub(rec.PhxdAt).Seconds())
			return
		}
	}
	for _, k := range gcKeys {
		if v, ok := old[k]; ok {
			rec.Figures[k] = v
		}
	}
}
