package main

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxsoak/attack"
)

// Check is one bound and its verdict.
type Check struct {
	Name  string `json:"name"`
	Limit string `json:"limit"`
	Value string `json:"value"`
	OK    bool   `json:"ok"`
}

// bounds are the limits a run must stay within (the flags of the same
// names; 0 turns a numeric bound off).
type bounds struct {
	maxRSS        int64         // bytes
	maxFDs        int           // open files of phxd
	maxGoroutines int           // go_goroutines of phxd
	maxP99        time.Duration // chat round trip
	fresh         bool          // every fresh-client probe served
	maxLogLine    int64         // bytes
	maxLogRate    int64         // bytes per second
}

// judge fills rep.Checks and rep.OK.
func judge(rep *Report, b bounds) {
	add := func(name, limit, value string, ok bool) {
		rep.Checks = append(rep.Checks, Check{Name: name, Limit: limit, Value: value, OK: ok})
	}
	add("not aborted", "phxd survives, RSS under the safety cap", orDash(rep.Aborted), rep.Aborted == "")
	if b.maxRSS > 0 {
		add("peak RSS", mb(b.maxRSS), mb(rep.Peaks.RSS), rep.Peaks.RSS <= b.maxRSS)
	}
	if b.maxFDs > 0 {
		add("peak fds", strconv.Itoa(b.maxFDs), strconv.Itoa(rep.Peaks.FDs), rep.Peaks.FDs <= b.maxFDs)
	}
	if b.maxGoroutines > 0 {
		add("peak goroutines", strconv.Itoa(b.maxGoroutines), strconv.Itoa(rep.Peaks.Goroutines),
			rep.Peaks.Goroutines <= b.maxGoroutines)
	}
	if c := rep.Chat; c != nil {
		// A push that phoenix.js times out (10 s) was never answered: that
		// fails the run whatever the latency bound.
		ok := c.Err == "" && c.Sent > 0 && c.JoinsFailed == 0 && c.PushTimeouts == 0
		add("chat ran", "every client joined, every push answered",
			fmt.Sprintf("%d sent, %d joins ok, %d failed, %d timed out %s", c.Sent, c.JoinsOK, c.JoinsFailed,
				c.PushTimeouts, c.Err), ok)
		if b.maxP99 > 0 {
			p99 := time.Duration(c.P99 * float64(time.Millisecond))
			add("chat p99", b.maxP99.String(), fmt.Sprintf("%.1f ms", c.P99), ok && p99 <= b.maxP99)
		}
	}
	if b.fresh {
		add("fresh client served", "every probe", fmt.Sprintf("%d/%d", rep.Fresh.Served, rep.Fresh.Probes),
			rep.Fresh.Probes > 0 && rep.Fresh.Served == rep.Fresh.Probes)
	}
	if b.maxLogLine > 0 {
		add("longest log line", strconv.FormatInt(b.maxLogLine, 10)+" B", strconv.FormatInt(rep.LongestLogLine, 10)+" B",
			rep.LongestLogLine <= b.maxLogLine)
	}
	if b.maxLogRate > 0 && rep.Duration > 0 {
		rate := int64(float64(rep.LogBytes) / rep.Duration.Seconds())
		add("log rate", mb(b.maxLogRate)+"/s", mb(rate)+"/s", rate <= b.maxLogRate)
	}
	for _, a := range rep.Attacks {
		add("expected answers: "+a.Name, "as the issue says", orDash(strings.Join(a.Problems, "; ")), len(a.Problems) == 0)
	}
	rep.OK = true
	for _, c := range rep.Checks {
		rep.OK = rep.OK && c.OK
	}
}

// expect returns what attack name's result shows the fixed server does
// not do (empty: all as expected). keyed reports that phxd has an API key.
func expect(name string, r attack.Result, keyed bool) []string {
	var p []string
	bad := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	switch name {
	case "status", "slow":
		for code := range r.CloseCodes {
			if code != 1008 && code != 1001 {
				bad("closed with %d, not the policy code 1008", code)
			}
		}
	case "topics":
		if n := r.Replies["ok"] + r.Replies["large:ok"]; n > 0 {
			bad("%d joins of 1 MB topics accepted", n)
		}
		refused := len(r.CloseCodes) > 0
		for k := range r.Replies {
			refused = refused || strings.HasPrefix(k, "error") || strings.HasPrefix(k, "large:error")
		}
		if !refused {
			bad("no over-long topic refused (no error reply, no close)")
		}
	case "broadcast":
		want := map[string][]int{"noauth": {401}, "xsite": {401, 415}}
		if !keyed {
			want = map[string][]int{"noauth": {404}, "xsite": {404, 415}}
		} else {
			want["keyed_text"] = []int{415}
			want["keyed_phx"] = []int{400}
			want["keyed_ok"] = []int{202}
		}
		p = append(p, statusProblems(r.HTTP, want)...)
	case "origin":
		if n := r.HTTP["ws:101"]; n > 0 {
			bad("%d WebSocket upgrades from evil.example accepted", n)
		}
		if n := r.HTTP["lp_json:410"]; n > 0 {
			bad("%d LongPoll sessions opened from evil.example", n)
		}
		if r.HTTP["ws:403"] == 0 {
			bad("no WebSocket connect answered 403")
		}
	case "brake":
		allowed := 1 + int64(r.Elapsed/(10*time.Second))
		if n := r.HTTP["upgrade:101"]; n > allowed {
			bad("%d rejected connects upgraded (at most %d with a 10 s brake)", n, allowed)
		}
		if r.HTTP["upgrade:429"] == 0 {
			bad("no retry answered 429")
		}
	case "trickle":
		// Every default read deadline a user would expect is well under
		// 90 s: by then the server must have ended some trickling POSTs.
		if r.Elapsed >= 90*time.Second && r.Ends["answered"]+r.Ends["eof"]+r.Ends["reset"] == 0 {
			bad("no trickling POST ended by the server in %v", r.Elapsed.Round(time.Second))
		}
	case "longpoll", "longpoll-posts":
		if n := r.HTTP["post:200"]; n > 0 {
			bad("%d POSTs of 8 MiB accepted", n)
		}
	case "badframes":
		for code := range r.CloseCodes {
			if code != 1007 {
				bad("a non-JSON frame closed with %d, not 1007", code)
			}
		}
	}
	return p
}

// statusProblems compares "what:status" counts against the allowed
// statuses per what.
func statusProblems(got map[string]int64, want map[string][]int) []string {
	var p []string
	seen := map[string]bool{}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		what, st, _ := strings.Cut(k, ":")
		allowed, ok := want[what]
		if !ok {
			continue
		}
		seen[what] = true
		code, _ := strconv.Atoi(st)
		if !slices.Contains(allowed, code) {
			p = append(p, fmt.Sprintf("%s answered %d ×%d, want %v", what, code, got[k], allowed))
		}
	}
	whats := make([]string, 0, len(want))
	for w := range want {
		whats = append(whats, w)
	}
	sort.Strings(whats)
	for _, w := range whats {
		if !seen[w] {
			p = append(p, w+" got no answer")
		}
	}
	return p
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
