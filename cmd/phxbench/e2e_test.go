package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/baseline"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/phxdtest"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
	"go.uber.org/goleak"
)

// TestMain lets the test binary act as a -worker or -sink child, so the
// -procs, baseline and floor paths run in tests too, and fails the package when
// goroutines outlive the tests.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && (os.Args[1] == "-worker" || os.Args[1] == "-sink") || len(os.Args) > 2 && os.Args[1] == "-floor-server" {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { phxdtest.Remove() }))
}

// chatScenario: n subscribers echo three times and wait for msgs
// broadcasts; one publisher pushes msgs stamped new_msg, 5 in flight.
func chatScenario(url, vsn string, n, msgs int) string {
	return fmt.Sprintf(`{
  "name": "chat", "url": %q, "vsn": %q, "duration": "20s", "drain": "2s",
  "groups": [
    {"name": "subs", "count": %d, "rate": 0, "params": {"token": "user:s{{n}}"},
     "steps": [
       {"join": "bench:room"},
       {"repeat": 3, "steps": [{"push": "echo", "payload": {"n": "{{seq}}"}}]},
       {"barrier": "ready"},
       {"wait": "new_msg", "count": %d, "timeout": "10s"}
     ]},
    {"name": "pub", "count": 1, "max_inflight": 5, "params": {"token": "user:p"},
     "steps": [
       {"join": "bench:room"},
       {"barrier": "ready"},
       {"repeat": %d, "steps": [{"push": "new_msg", "payload": {"body": "hi {{stamp}}"}, "nowait": true}]},
       {"sleep": "10ms"},
       {"leave": "bench:room"}
     ]}
  ]
}`, url, vsn, n, msgs, msgs)
}

func runJSON(t *testing.T, js string, o engine.RunOptions) *engine.Result {
	t.Helper()
	sc, err := scenario.ParseScenario(strings.NewReader(js))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	p, err := scenario.Compile(sc)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if o.Procs == 0 {
		o.Procs = 1
	}
	r, err := engine.Run(p, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	r.Check(sc.Expect)
	if testing.Verbose() {
		var b bytes.Buffer
		report.WriteSummary(&b, r)
		t.Log("\n" + b.String())
	}
	return r
}

func checkChat(t *testing.T, r *engine.Result, n, msgs int) {
	t.Helper()
	c := r.Counters
	check.Eq(t, "connected", c.Connected, int64(n+1))
	check.Eq(t, "joined", c.Joined, int64(n+1))
	check.Eq(t, "replies", c.Replies, int64(3*n+msgs))
	check.Eq(t, "deliveries", c.Deliveries, int64((n+1)*msgs))
	check.Eq(t, "expected", r.Deliveries.Expected, int64((n+1)*msgs))
	check.Eq(t, "lost", r.Deliveries.Lost, int64(0))
	check.Eq(t, "published", r.Deliveries.Published, int64(msgs))
	check.Eq(t, "open at end", c.OpenAtEnd, int64(n+1))
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
	if !r.OK {
		t.Errorf("checks failed: %+v", r.Checks)
	}
	for _, k := range []string{"connect", "join", "push:echo", "push:new_msg", "delivery", "leave"} {
		if r.Latency[k].Count == 0 {
			t.Errorf("no %s latencies", k)
		}
	}
}

func TestEndToEnd(t *testing.T) {
	src, _ := sys.ParseSrc(sys.DefaultSrc)
	for _, tc := range []struct {
		name string
		vsn  string
		src  [][4]byte
	}{
		{"v2", "2.0.0", nil},
		{"v1", "1.0.0", nil},
		{"v2-source-addresses", "2.0.0", src},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startFakeServer(t)
			r := runJSON(t, chatScenario(s.url(), tc.vsn, 50, 20), engine.RunOptions{Src: tc.src})
			checkChat(t, r, 50, 20)
		})
	}
}

func TestEndToEndProcs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	s := startFakeServer(t)
	r := runJSON(t, chatScenario(s.url(), "2.0.0", 40, 10), engine.RunOptions{Procs: 2})
	check.Eq(t, "procs", r.Procs, 2)
	checkChat(t, r, 40, 10)
}

func TestEndToEndBinaryEcho(t *testing.T) {
	s := startFakeServer(t)
	js := fmt.Sprintf(`{"url": %q, "duration": "10s", "groups": [{"name": "b", "count": 10,
	  "params": {"token": "user:b{{id}}"}, "steps": [
	    {"join": "bench:bin"},
	    {"repeat": 5, "every": "1ms", "steps": [{"push": "echo", "binary": true, "payload": "bytes {{seq}}"}]},
	    {"close": true}]}]}`, s.url())
	r := runJSON(t, js, engine.RunOptions{})
	check.Eq(t, "replies", r.Counters.Replies, int64(50))
	check.Eq(t, "status errors", r.Counters.StatusErrors, int64(0))
	check.Eq(t, "open at end", r.Counters.OpenAtEnd, int64(0))
	check.Eq(t, "ok", r.OK, true)
}

func TestEndToEndFailures(t *testing.T) {
	s := startFakeServer(t)
	js := fmt.Sprintf(`{"url": %q, "duration": "10s", "reply_timeout": "200ms", "groups": [
	  {"name": "rejected", "count": 5, "params": {"token": "bad"}, "steps": [{"join": "bench:x"}]},
	  {"name": "errs", "count": 2, "params": {"token": "user:e"}, "steps": [
	    {"join": "bench:x"},
	    {"push": "fail"},
	    {"push": "silence"},
	    {"wait": "never", "timeout": "50ms"}]}]}`, s.url())
	r := runJSON(t, js, engine.RunOptions{})
	check.Eq(t, "connect failed", r.Counters.ConnectFailed, int64(5))
	check.Eq(t, "connect_error kind", r.Errors["connect_error:unauthorized"], int64(5))
	check.Eq(t, "status errors", r.Errors["status:fail:error"], int64(2))
	check.Eq(t, "timeouts", r.Errors["timeout:silence"], int64(2))
	check.Eq(t, "wait timeouts", r.Errors["wait_timeout:never"], int64(2))
	check.Eq(t, "ok", r.OK, false)
}

func TestEndToEndDeadline(t *testing.T) {
	s := startFakeServer(t)
	js := fmt.Sprintf(`{"url": %q, "duration": "300ms", "drain": "100ms", "groups": [
	  {"name": "slow", "count": 3, "params": {"token": "user:z"}, "steps": [
	    {"join": "bench:x"}, {"sleep": "1h"}]}]}`, s.url())
	start := time.Now()
	r := runJSON(t, js, engine.RunOptions{})
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("run took %v, want it bounded by the 300ms duration", el)
	}
	check.Eq(t, "unfinished", r.Counters.Unfinished, int64(3))
	check.Eq(t, "ok", r.OK, false)
}

func TestConnectRefused(t *testing.T) {
	js := `{"url": "ws://127.0.0.1:1/socket/websocket", "duration": "5s", "groups": [
	  {"name": "x", "count": 3, "steps": [{"join": "bench:x"}]}]}`
	r := runJSON(t, js, engine.RunOptions{})
	check.Eq(t, "connect failed", r.Counters.ConnectFailed, int64(3))
	check.Eq(t, "kind", r.Errors["connect:connect:ECONNREFUSED"], int64(3))
}

func TestBaselineAndReport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a sink process")
	}
	b, err := baseline.Measure(50, 3, baseline.SyntheticFrame("bench:fanout", 10), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "writes", b.Writes, int64(150))
	if b.CPUPerWriteUS <= 0 || b.FramesPerCall != 0 || b.CPUPerFrameUS != 0 {
		t.Errorf("cpu per write %v, coalesced %v per call %v", b.CPUPerWriteUS, b.FramesPerCall, b.CPUPerFrameUS)
	}
	// The coalesced floor: 2.5 frames per writev(2) on average.
	c, err := baseline.Measure(20, 10, baseline.SyntheticFrame("bench:fanout", 10), 2.5, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.FramesPerCall != 2.5 || c.CPUPerFrameUS <= 0 {
		t.Errorf("coalesced: %+v", c)
	}
	s := startFakeServer(t)
	r := runJSON(t, chatScenario(s.url(), "2.0.0", 5, 5), engine.RunOptions{PID: os.Getpid(), Sample: 20 * time.Millisecond})
	r.Baseline = b
	h := report.HTML(r)
	for _, want := range []string{"<svg", "delivery", "latency by percentile", "Server process", "polyline"} {
		if !strings.Contains(h, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if r.Server == nil || r.Server.RSSPeak == 0 || r.Server.ThreadsMax == 0 {
		t.Errorf("server samples missing: %+v", r.Server)
	}
}

// The fan-out across the nodes of a (fake) cluster: -url lists three
// servers sharing their topics; the clients are dealt round-robin, the
// publisher on the first, and every subscriber's deliveries count wherever
// it is connected, per server too.
func TestEndToEndURLList(t *testing.T) {
	ss := startFakeCluster(t, 3)
	urls := ss[0].url() + "," + ss[1].url() + "," + ss[2].url()
	const n, msgs = 30, 10
	r := runJSON(t, chatScenario(urls, "2.0.0", n, msgs), engine.RunOptions{})
	checkChat(t, r, n, msgs)
	if len(r.Targets) != 3 {
		t.Fatalf("targets: %+v", r.Targets)
	}
	var sum int64
	for i, tc := range r.Targets {
		subs := int64(n / 3)
		if i == 0 {
			subs++ // the publisher
		}
		check.Eq(t, fmt.Sprintf("server %d url", i), tc.URL, ss[i].url())
		check.Eq(t, fmt.Sprintf("server %d clients", i), tc.Clients, subs)
		check.Eq(t, fmt.Sprintf("server %d joined", i), tc.Joined, subs)
		check.Eq(t, fmt.Sprintf("server %d deliveries", i), tc.Deliveries, subs*msgs)
		check.Eq(t, fmt.Sprintf("server %d open at end", i), tc.OpenAtEnd, subs)
		check.Eq(t, fmt.Sprintf("server %d connections", i), ss[i].accepted.Load(), subs)
		sum += tc.Deliveries
	}
	check.Eq(t, "deliveries over the servers", sum, r.Counters.Deliveries)
}

// -procs workers deal the clients the same way: the counts per server add
// up across the worker processes.
func TestEndToEndURLListProcs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	ss := startFakeCluster(t, 2)
	const n, msgs = 20, 5
	r := runJSON(t, chatScenario(ss[0].url()+","+ss[1].url(), "2.0.0", n, msgs), engine.RunOptions{Procs: 2})
	checkChat(t, r, n, msgs)
	check.Eq(t, "server 0 deliveries", r.Targets[0].Deliveries, int64(n/2+1)*msgs)
	check.Eq(t, "server 1 deliveries", r.Targets[1].Deliveries, int64(n/2)*msgs)
	check.Eq(t, "server 0 connections", ss[0].accepted.Load(), int64(n/2+1))
}
