package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxsoak/attack"
)

func TestMetricValue(t *testing.T) {
	body := []byte("# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines_other 7\nphxgo_longpoll_sessions 1e+06\n")
	if v, ok := metricValue(body, "go_goroutines"); !ok || v != 42 {
		t.Errorf("go_goroutines = %d, %v; want 42", v, ok)
	}
	if v, ok := metricValue(body, "phxgo_longpoll_sessions"); !ok || v != 1_000_000 {
		t.Errorf("phxgo_longpoll_sessions = %d, %v; want 1000000", v, ok)
	}
	if _, ok := metricValue(body, "absent"); ok {
		t.Error("absent metric found")
	}
}

func TestQuantile(t *testing.T) {
	s := make([]float64, 100)
	for i := range s {
		s[i] = float64(i + 1)
	}
	if q := quantile(s, 0.5); q != 50 {
		t.Errorf("p50 = %v, want 50", q)
	}
	if q := quantile(s, 0.99); q != 99 {
		t.Errorf("p99 = %v, want 99", q)
	}
	if q := quantile([]float64{3}, 0.99); q != 3 {
		t.Errorf("p99 of one = %v, want 3", q)
	}
}

func TestExpect(t *testing.T) {
	res := func(http map[string]int64) attack.Result {
		return attack.Result{HTTP: http, Replies: map[string]int64{}, CloseCodes: map[int]int64{}}
	}
	good := res(map[string]int64{"noauth:401": 3, "xsite:415": 3, "keyed_text:415": 2, "keyed_phx:400": 2, "keyed_ok:202": 2})
	if p := expect("broadcast", good, true); len(p) != 0 {
		t.Errorf("fixed answers judged bad: %v", p)
	}
	bad := res(map[string]int64{"noauth:202": 3, "xsite:415": 3, "keyed_text:415": 2, "keyed_phx:400": 2})
	p := expect("broadcast", bad, true)
	if len(p) != 2 || !strings.Contains(p[0], "noauth answered 202") || !strings.Contains(p[1], "keyed_ok got no answer") {
		t.Errorf("problems = %q", p)
	}
	if p := expect("broadcast", res(map[string]int64{"noauth:404": 1, "xsite:404": 1}), false); len(p) != 0 {
		t.Errorf("keyless answers judged bad: %v", p)
	}
	brake := res(map[string]int64{"upgrade:101": 2, "upgrade:429": 50})
	brake.Elapsed = 5 * time.Second
	if p := expect("brake", brake, true); len(p) != 1 {
		t.Errorf("two upgrades in 5 s not caught: %v", p)
	}
	brake.Elapsed = 15 * time.Second
	if p := expect("brake", brake, true); len(p) != 0 {
		t.Errorf("two upgrades in 15 s judged bad: %v", p)
	}
	topics := res(nil)
	topics.Replies["large:ok"] = 1
	if p := expect("topics", topics, true); len(p) != 2 {
		t.Errorf("accepted big topic not caught: %v", p)
	}
	flood := res(nil)
	flood.CloseCodes[1000] = 1
	if p := expect("status", flood, true); len(p) != 1 {
		t.Errorf("close 1000 not caught: %v", p)
	}
}

func TestJudge(t *testing.T) {
	rep := &Report{Duration: 10 * time.Second, Peaks: Peaks{RSS: 300 << 20, FDs: 10, Goroutines: 10},
		Fresh: FreshStats{Probes: 3, Served: 3}, LogBytes: 1 << 20, LongestLogLine: 100,
		Chat: &ChatResult{Sent: 10, JoinsOK: 2, P99: 5}}
	b := bounds{maxRSS: 256 << 20, maxFDs: 100, maxGoroutines: 100, maxP99: time.Second, fresh: true,
		maxLogLine: 4096, maxLogRate: 4 << 20}
	judge(rep, b)
	if rep.OK {
		t.Fatal("300 MB passed a 256 MB bound")
	}
	var failed []string
	for _, c := range rep.Checks {
		if !c.OK {
			failed = append(failed, c.Name)
		}
	}
	if len(failed) != 1 || failed[0] != "peak RSS" {
		t.Errorf("failed checks %v, want [peak RSS]", failed)
	}
	rep.Peaks.RSS, rep.Checks = 100<<20, nil
	judge(rep, b)
	if !rep.OK {
		t.Errorf("bounded run judged bad: %+v", rep.Checks)
	}
}

func TestChatLines(t *testing.T) {
	c := &chat{}
	for _, l := range []string{`{"ev":"rtt","ms":2}`, `{"ev":"rtt","ms":1}`, `{"ev":"push_timeout"}`,
		`{"ev":"join","status":"ok"}`, `{"ev":"join","status":"error"}`, `not json`,
		`{"ev":"done","received":7,"version":"1.8.16"}`} {
		c.line([]byte(l))
	}
	c.done = make(chan struct{})
	close(c.done)
	r := c.wait(time.Second)
	if r.Sent != 2 || r.PushTimeouts != 1 || r.JoinsOK != 1 || r.JoinsFailed != 1 || r.Received != 7 ||
		r.Version != "1.8.16" || r.P50 != 1 || r.Max != 2 || r.Err != "" {
		t.Errorf("chat result %+v", r)
	}
}

// TestLogCounting starts a fake phxd (a shell script) that logs a 100 KB
// line and exits: the reader counts lines and bytes and the longest line
// without keeping it.
func TestLogCounting(t *testing.T) {
	script := filepath.Join(t.TempDir(), "fake-phxd")
	body := "#!/bin/sh\necho 'level=INFO msg=listening addr=127.0.0.1:9' >&2\n" +
		"head -c 100000 /dev/zero | tr '\\0' x >&2\necho >&2\necho short >&2\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := startPhxd(script, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited: // after the reader saw EOF
	case <-time.After(10 * time.Second):
		p.kill()
		t.Fatal("the fake phxd did not exit")
	}
	if p.addr != "127.0.0.1:9" {
		t.Errorf("addr %q", p.addr)
	}
	if n := p.logLines.Load(); n != 3 {
		t.Errorf("%d lines counted, want 3", n)
	}
	if l := p.longest.Load(); l != 100001 {
		t.Errorf("longest line %d bytes, want 100001", l)
	}
	if b := p.logBytes.Load(); b != int64(len("level=INFO msg=listening addr=127.0.0.1:9\n")+100001+len("short\n")) {
		t.Errorf("%d bytes counted", b)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.soak.attacks) != len(attack.All) || c.soak.duration != 3*time.Minute || c.soak.chat == nil ||
		c.soak.rssCap != 1<<30 || c.bounds.maxRSS != 256<<20 || !c.bounds.fresh {
		t.Errorf("defaults: %+v %+v", c.soak, c.bounds)
	}
	c, err = parseFlags([]string{"-attack", "ping"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.soak.attacks) != 1 || c.soak.duration != 10*time.Second || c.soak.chat != nil || c.soak.freshEvery != time.Second {
		t.Errorf("-attack defaults: %+v", c.soak)
	}
	c, err = parseFlags([]string{"-skip", "ping,slow", "-duration", "1m"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.soak.attacks) != len(attack.All)-2 || c.soak.duration != time.Minute {
		t.Errorf("-skip: %d attacks, %v", len(c.soak.attacks), c.soak.duration)
	}
	for _, bad := range [][]string{{"-attack", "nope"}, {"-each", "-attack", "ping"}, {"-skip", "nope"},
		{"-rss-cap", "0"}, {"-sockets", "5000"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
