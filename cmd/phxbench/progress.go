package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress redraws one status line on a terminal with \r: a bar of clients
// done, elapsed time against the run's bound, and live counters. It writes
// nothing when w is nil (not a terminal, or -progress off).
type progress struct {
	w        io.Writer
	name     string
	total    int64
	bound    time.Duration
	start    time.Time
	last     liveSnapshot
	lastTime time.Time
	drawn    bool
}

// newProgress starts the clock of the progress line.
func newProgress(w io.Writer, p *program) *progress {
	now := time.Now()
	return &progress{w: w, name: p.sc.Name, total: int64(p.total), bound: p.sc.Duration.D(), start: now, lastTime: now}
}

// draw redraws the line.
func (pr *progress) draw(s liveSnapshot) {
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
	filled := 0
	if pr.total > 0 {
		filled = int(min(s.Done, pr.total) * width / pr.total)
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	line := fmt.Sprintf("%s [%s] done %d/%d  %.0fs/%.0fs  open %d joined %d fail %d  push %d rep %d (%.0f/s)  deliv %d (%.0f/s)  err %d",
		pr.name, bar, s.Done, pr.total, now.Sub(pr.start).Seconds(), pr.bound.Seconds(), s.Open, s.Joined, s.Failed,
		s.Pushes, s.Replies, rate(s.Replies, pr.last.Replies), s.Deliveries, rate(s.Deliveries, pr.last.Deliveries), s.Errors)
	fmt.Fprint(pr.w, "\r\033[K"+line)
	pr.last, pr.lastTime, pr.drawn = s, now, true
}

// finish clears the line.
func (pr *progress) finish() {
	if pr.w != nil && pr.drawn {
		fmt.Fprint(pr.w, "\r\033[K")
	}
}
