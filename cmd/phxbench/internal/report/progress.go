package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

// progress redraws one status line on a terminal with \r: a bar of the
// elapsed time against the run's planned duration (or of clients done, when
// that is further along or nothing is planned), elapsed against planned
// time and the hard bound, and live counters. It writes nothing when w is
// nil (not a terminal, or -progress off).
type progress struct {
	w        io.Writer
	name     string
	total    int64
	planned  time.Duration // expected duration (program.planned); 0: unknown
	bound    time.Duration // the scenario's hard bound
	start    time.Time
	last     engine.LiveSnapshot
	lastTime time.Time
	drawn    bool
}

// NewProgress starts the clock of the progress line.
func NewProgress(w io.Writer, p *scenario.Program) *progress {
	now := time.Now()
	return &progress{w: w, name: p.Scenario.Name, total: int64(p.Total), planned: p.Planned(), bound: p.Scenario.Duration.D(), start: now, lastTime: now}
}

// Begin restarts the clock: the run starts now.
func (pr *progress) Begin() {
	pr.start = time.Now()
	pr.lastTime = pr.start
}

// Draw redraws the line.
func (pr *progress) Draw(s engine.LiveSnapshot) {
	if pr.w == nil {
		return
	}
	now := time.Now()
	dt := now.Sub(pr.lastTime).Seconds()
	rate := func(cur, prev int64) float64 {
		if dt <= 0 {
			return 0
		}
		return float64(cur-prev) / dt
	}
	const width = 20
	elapsed := now.Sub(pr.start)
	frac := 0.0
	if pr.total > 0 {
		frac = float64(min(s.Done, pr.total)) / float64(pr.total)
	}
	if pr.planned > 0 {
		frac = max(frac, min(1, elapsed.Seconds()/pr.planned.Seconds()))
	}
	filled := int(frac * width)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	clock := fmt.Sprintf("%.0fs/%.0fs (limit %.0fs)", elapsed.Seconds(), pr.planned.Seconds(), pr.bound.Seconds())
	if pr.planned <= 0 {
		clock = fmt.Sprintf("%.0fs (limit %.0fs)", elapsed.Seconds(), pr.bound.Seconds())
	}
	line := fmt.Sprintf("%s [%s] done %d/%d  %s  open %d joined %d fail %d  push %d rep %d (%.0f/s)  deliv %d (%.0f/s)  err %d",
		pr.name, bar, s.Done, pr.total, clock, s.Open, s.Joined, s.Failed,
		s.Pushes, s.Replies, rate(s.Replies, pr.last.Replies), s.Deliveries, rate(s.Deliveries, pr.last.Deliveries), s.Errors)
	fmt.Fprint(pr.w, "\r\033[K"+line)
	pr.last, pr.lastTime, pr.drawn = s, now, true
}

// Finish clears the line.
func (pr *progress) Finish() {
	if pr.w != nil && pr.drawn {
		fmt.Fprint(pr.w, "\r\033[K")
	}
}
