package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
)

// WriteSummary prints the human-readable result.
func WriteSummary(w io.Writer, r *engine.Result) {
	c := &r.Counters
	procs := "1 process"
	if r.Procs > 1 {
		procs = fmt.Sprintf("%d processes", r.Procs)
	}
	vsn := r.Vsn
	if r.Transport != "" {
		vsn += " " + r.Transport
	}
	fmt.Fprintf(w, "phxbench %s: %s vsn %s, %s, %.1f s\n", r.Scenario, r.URL, vsn, procs, r.ElapsedS)
	fmt.Fprintf(w, "  clients     %d: %d connected, %d joined, %d connect failures, %d failed later, %d unfinished, %d open at end\n",
		c.Clients, c.Connected, c.Joined, c.ConnectFailed, c.Failed, c.Unfinished, c.OpenAtEnd)
	latencyLine(w, r, "connect", fmt.Sprintf("%s/s", Num(r.Rates.ConnectPerS)))
	latencyLine(w, r, "join", fmt.Sprintf("connect+join %s/s", Num(r.Rates.ConnectJoinPerS)))
	for _, k := range slices.Sorted(maps.Keys(r.Latency)) {
		if strings.HasPrefix(k, "push:") {
			latencyLine(w, r, k, "")
		}
	}
	if c.PushesSent > 0 {
		fmt.Fprintf(w, "  pushes      %d sent, %d replies (%s/s), %d wrong status, %d timeouts\n",
			c.PushesSent, c.Replies, Num(r.Rates.RepliesPerS), c.StatusErrors, c.Timeouts)
	}
	if d := r.Deliveries; c.Deliveries > 0 || d.Expected > 0 {
		fmt.Fprintf(w, "  deliveries  %d received, %d expected, %d lost, %d outside a window; %s/s\n",
			d.Received, d.Expected, d.Lost, d.OutsideWindow, Num(r.Rates.DeliveriesPerS))
		latencyLine(w, r, "delivery", "")
	}
	for i, t := range r.Targets {
		fmt.Fprintf(w, "  server %-4d %s: %d clients, %d joined, %d deliveries, %d open at end\n",
			i, t.URL, t.Clients, t.Joined, t.Deliveries, t.OpenAtEnd)
	}
	if x := r.Compression; x != nil {
		fmt.Fprintf(w, "  compression %s: permessage-deflate agreed on %d of %d connections; received %s on the wire, %s inflated (%.1f×); %d messages compressed\n",
			x.Mode, x.Negotiated, x.Offered, BytesStr(float64(x.BytesWire)), BytesStr(float64(x.BytesPlain)), x.Ratio, x.Messages)
	}
	errorsLine(w, r)
	serverLines(w, r)
	for _, s := range r.Servers[min(1, len(r.Servers)):] {
		fmt.Fprintf(w, "  process     pid %d: cpu %.2f s (%.2f µs per delivery of all); rss %s → %s (peak %s); threads ≤ %d\n",
			s.PID, s.CPUS, s.CPUPerDeliveryUS, BytesStr(float64(s.RSSStart)), BytesStr(float64(s.RSSEnd)), BytesStr(float64(s.RSSPeak)), s.ThreadsMax)
	}
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "  baseline    bare write(2) of a %d-byte frame to %d sockets × %d: %.2f µs CPU per write (%.2f µs wall)\n",
			b.FrameBytes, b.Sockets, b.Rounds, b.CPUPerWriteUS, b.WallPerWriteUS)
	}
	fmt.Fprintf(w, "  client      cpu %.2f s, max rss %s\n", r.Client.CPUS, BytesStr(float64(r.Client.MaxRSS)))
	for _, ch := range r.Checks {
		mark := "ok  "
		if !ch.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  check %s %s: %s\n", mark, ch.Name, ch.Detail)
	}
	if r.OK {
		fmt.Fprintln(w, "  result      PASS")
	} else {
		fmt.Fprintln(w, "  result      FAIL")
	}
}

// latencyLine prints one histogram's percentiles.
func latencyLine(w io.Writer, r *engine.Result, name, prefix string) {
	s, ok := r.Latency[name]
	if !ok {
		return
	}
	if prefix != "" {
		prefix += "; "
	}
	fmt.Fprintf(w, "  %-11s %sp50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)\n", name, prefix,
		Dur(s.P50), Dur(s.P90), Dur(s.P99), Dur(s.P999), Dur(s.Max), s.Count)
}

// errorsLine prints the errors by kind.
func errorsLine(w io.Writer, r *engine.Result) {
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "  errors      none")
		return
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, r.Errors[k]))
	}
	fmt.Fprintf(w, "  errors      %s\n", strings.Join(parts, ", "))
}

// serverLines prints the server process's cost.
func serverLines(w io.Writer, r *engine.Result) {
	s := r.Server
	if s == nil {
		return
	}
	perSocket := BytesStr(s.RSSPerSocket)
	if s.RSSBelowStart {
		perSocket = "n/a (RSS fell below baseline)"
	}
	fmt.Fprintf(w, "  server      pid %d: cpu %.2f s; rss %s → %s (peak %s), %s per open socket; threads ≤ %d",
		s.PID, s.CPUS, BytesStr(float64(s.RSSStart)), BytesStr(float64(s.RSSEnd)), BytesStr(float64(s.RSSPeak)),
		perSocket, s.ThreadsMax)
	if s.GoroutinesMax > 0 {
		fmt.Fprintf(w, ", goroutines ≤ %d", s.GoroutinesMax)
	}
	fmt.Fprintln(w)
	var parts []string
	if s.CPUPerConnectJoinUS > 0 {
		parts = append(parts, fmt.Sprintf("%.1f µs per connect+join", s.CPUPerConnectJoinUS))
	}
	if s.CPUPerPushUS > 0 {
		parts = append(parts, fmt.Sprintf("%.1f µs per push reply", s.CPUPerPushUS))
	}
	if s.CPUPerDeliveryUS > 0 {
		parts = append(parts, fmt.Sprintf("%.2f µs per delivery", s.CPUPerDeliveryUS))
	}
	if s.VsBareWrite > 0 {
		parts = append(parts, fmt.Sprintf("%.2f× a bare write", s.VsBareWrite))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "              server cpu: %s\n", strings.Join(parts, ", "))
	}
}

// Dur formats microseconds.
func Dur(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// Num formats a rate.
func Num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// BytesStr formats a byte count.
func BytesStr(b float64) string {
	neg := ""
	if b < 0 {
		neg, b = "-", -b
	}
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%s%.2f GiB", neg, b/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%s%.1f MiB", neg, b/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%s%.2f KiB", neg, b/(1<<10))
	}
	return fmt.Sprintf("%s%.0f B", neg, b)
}
