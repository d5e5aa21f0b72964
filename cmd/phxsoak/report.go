package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// writeMarkdown prints rep as markdown tables: the attacks, then the
// figures and their bounds.
func writeMarkdown(w io.Writer, rep *Report) {
	fmt.Fprintf(w, "## phxsoak: %s, %v\n\n", rep.Mode, rep.Duration.Round(time.Second))
	if len(rep.PhxdArgs) > 0 {
		fmt.Fprintf(w, "phxd flags: `%s`\n\n", strings.Join(rep.PhxdArgs, " "))
	}
	fmt.Fprintln(w, "| hole | attack | ran | conns (peak open) | sent | server's answers | fresh client | expected |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, a := range rep.Attacks {
		r := a.Result
		fmt.Fprintf(w, "| %s | %s | %v | %d (%d) | %d (%s) | %s | %s | %s |\n",
			a.Hole, a.Name, r.Elapsed.Round(100*time.Millisecond), r.Conns, r.PeakOpen,
			r.Sent, mb(r.BytesSent), cell(r.Summary()), freshCell(a.Fresh), cell(verdict(a.Problems)))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | value | bound | ok |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, c := range rep.Checks {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.Name, cell(c.Value), cell(c.Limit), yes(c.OK))
	}
	fmt.Fprintf(w, "| peak threads | %d | - | - |\n", rep.Peaks.Threads)
	fmt.Fprintf(w, "| peak open sockets, LongPoll sessions (/metrics) | %d, %d | - | - |\n",
		rep.Peaks.OpenSockets, rep.Peaks.LongPollSessions)
	if c := rep.Chat; c != nil {
		fmt.Fprintf(w, "| chat (phoenix.js %s, %d clients) | %d sent, %d received, p50 %.1f ms, p99 %.1f ms, max %.1f ms | - | - |\n",
			orDash(c.Version), c.Clients, c.Sent, c.Received, c.P50, c.P99, c.Max)
	}
	fmt.Fprintf(w, "| phxd log | %d lines, %s | - | - |\n", rep.LogLines, mb(rep.LogBytes))
	if rep.Shutdown > 0 {
		fmt.Fprintf(w, "| SIGTERM to exit | %v (clean: %s) | - | - |\n", rep.Shutdown.Round(time.Millisecond), yes(rep.ShutdownClean))
	}
	fmt.Fprintf(w, "| /proc samples (every %v), failed /metrics scrapes | %d, %d | - | - |\n",
		SampleEvery, rep.Peaks.Samples, rep.Peaks.MetricsFailed)
	fmt.Fprintf(w, "\n**%s**\n", map[bool]string{true: "PASS: every bound held", false: "FAIL: a bound was exceeded"}[rep.OK])
}

// writeJSON prints v (a *Report, or the reports of -each) as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeEachMarkdown prints one row per attack run alone (-each): the
// per-hole figures.
func writeEachMarkdown(w io.Writer, reps []*Report, d time.Duration) {
	fmt.Fprintf(w, "## phxsoak -each: every attack alone against a fresh phxd, %v each\n\n", d)
	fmt.Fprintln(w, "| hole | attack | peak RSS | peak fds | peak goroutines | fresh client | server's answers | bounds |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	allOK := true
	for _, rep := range reps {
		a := rep.Attacks[0]
		var failed []string
		for _, c := range rep.Checks {
			if !c.OK {
				failed = append(failed, c.Name+" "+c.Value)
			}
		}
		verdict := "held"
		if len(failed) > 0 {
			verdict, allOK = "**exceeded**: "+strings.Join(failed, "; "), false
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %s | %s | %s |\n", a.Hole, a.Name, mb(rep.Peaks.RSS),
			rep.Peaks.FDs, rep.Peaks.Goroutines, freshCell(a.Fresh), cell(a.Result.Summary()), cell(verdict))
	}
	fmt.Fprintf(w, "\n**%s**\n", map[bool]string{true: "PASS: every bound held", false: "FAIL: a bound was exceeded"}[allOK])
}

func freshCell(f FreshStats) string {
	if f.Probes == 0 {
		return "no probe"
	}
	s := fmt.Sprintf("%d/%d served", f.Served, f.Probes)
	if len(f.Failures) > 0 {
		s += " (" + f.Failures[0] + ")"
	}
	return cell(s)
}

func verdict(problems []string) string {
	if len(problems) == 0 {
		return "yes"
	}
	return "NO: " + strings.Join(problems, "; ")
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**NO**"
}

// cell makes s safe in a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
