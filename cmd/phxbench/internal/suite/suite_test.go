package suite

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/baseline"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{2, 2, 9}, 2},
	} {
		in := slices.Clone(c.in)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		if !slices.Equal(in, c.in) {
			t.Errorf("median reordered its input: %v", c.in)
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
}

func TestHeldStats(t *testing.T) {
	s := []procstat.Sample{
		{T: 0, CPU: 0, Threads: 8, Goroutines: 20},
		{T: 1, CPU: 0.9, Threads: 12, Goroutines: 40}, // ramp: outside the window
		{T: 2, CPU: 1.0, Threads: 10, Goroutines: 38}, // scraped before the window, carried over
		{T: 3, CPU: 1.1, Threads: 10, Goroutines: 22},
		{T: 4, CPU: 1.2, Threads: 11, Goroutines: 0},  // scrape failed
		{T: 5, CPU: 2.0, Threads: 14, Goroutines: 63}, // shutdown: outside
	}
	h, ok := heldStats(s, 1.5, 4.5)
	if !ok || h.threads != 11 || h.goroutines != 22 || math.Abs(h.cores-0.1) > 1e-9 {
		t.Errorf("heldStats = %+v, %v; want threads 11, goroutines 22, 0.1 cores", h, ok)
	}
	if _, ok := heldStats(s, 2.5, 3.5); ok {
		t.Error("one sample in the window gave ok")
	}
}

func TestParseCPUBusy(t *testing.T) {
	stat := "cpu  100 5 50 1000 20 3 2 10 0 0\ncpu0 50 2 25 500 10 1 1 5 0 0\nintr 1\n"
	got, err := parseCPUBusy(stat, 100)
	// user+nice+system+irq+softirq+steal = 100+5+50+3+2+10 ticks
	if err != nil || math.Abs(got-1.70) > 1e-9 {
		t.Errorf("parseCPUBusy = %v, %v; want 1.70 s", got, err)
	}
	if _, err := parseCPUBusy("intr 1\n", 100); err == nil {
		t.Error("no cpu line: no error")
	}
	if _, err := parseCPUBusy("cpu 1 2 x 4 5 6 7 8\n", 100); err == nil {
		t.Error("bad number: no error")
	}
}

func TestParsePortRange(t *testing.T) {
	if lo, hi, err := parsePortRange("4400-4499"); err != nil || lo != 4400 || hi != 4499 {
		t.Errorf("4400-4499: %d %d %v", lo, hi, err)
	}
	if lo, hi, err := parsePortRange("4401"); err != nil || lo != 4401 || hi != 4401 {
		t.Errorf("4401: %d %d %v", lo, hi, err)
	}
	for _, bad := range []string{"", "a-b", "4499-4400", "0-10", "1-70000"} {
		if _, _, err := parsePortRange(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestShellJoin(t *testing.T) {
	got := shellJoin([]string{"phxbench", "-url", "ws://127.0.0.1:4400/socket/websocket", "-pid", "$PID", "-token", "user:b{{id}}", "it's"})
	want := `phxbench -url ws://127.0.0.1:4400/socket/websocket -pid $PID -token 'user:b{{id}}' 'it'\''s'`
	if got != want {
		t.Errorf("shellJoin:\n got %s\nwant %s", got, want)
	}
}

func TestSuiteFlagsAndCases(t *testing.T) {
	o, err := parseSuiteFlags([]string{"-plan"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range suiteCases(o) {
		ids = append(ids, c.ID)
	}
	want := []string{"idle-1000", "idle-5000", "idle-10000", "idle-15000", "fanout-1000", "fanout-5000",
		"fanout-10000", "fanout-15000", "connect-15000", "echo-1000", "presence-10000", "presence-10000-deflate", "slow-1000"}
	if !slices.Equal(ids, want) {
		t.Errorf("cases %v, want %v", ids, want)
	}
	cs := suiteCases(o)
	if !slices.Equal(cs[2].Items, []string{"idle", "growth"}) || !slices.Equal(cs[0].Items, []string{"growth"}) {
		t.Errorf("items: %v %v", cs[2].Items, cs[0].Items)
	}

	o, err = parseSuiteFlags([]string{"-phxd", "x", "-quick", "-only", "echo,fanout"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cs = suiteCases(o)
	if o.runs != 1 || len(cs) != 3 || cs[2].ID != "echo-1000" {
		t.Fatalf("quick echo,fanout: runs %d, cases %+v", o.runs, cs)
	}
	cmd := shellJoin(cs[2].command("phxbench", "127.0.0.1:4400", "$PID", "", ""))
	if cmd != "phxbench -scenario echo -n 50 -rate 100 -d 2s -floor -floor-d 2s -url ws://127.0.0.1:4400/socket/websocket -pid $PID" {
		t.Errorf("quick echo command: %s", cmd)
	}

	// -only presence runs both presence cases: the plain one as it was, and
	// its twin with -compress on both sides.
	o, err = parseSuiteFlags([]string{"-phxd", "x", "-only", "presence"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cs = suiteCases(o)
	if len(cs) != 2 || cs[0].ID != "presence-10000" || cs[1].ID != "presence-10000-deflate" || cs[1].Kind != "presence" ||
		!slices.Equal(cs[1].Items, []string{"presence"}) {
		t.Fatalf("presence cases %+v", cs)
	}
	plain := "phxbench -scenario connect -n 10000 -rate 5000 -topic room:bench -procs 2 -duration 2m -baseline -url ws://127.0.0.1:4400/socket/websocket -pid $PID -metrics http://127.0.0.1:4400/metrics"
	if cmd := shellJoin(cs[0].command("phxbench", "127.0.0.1:4400", "$PID", "", "")); cmd != plain {
		t.Errorf("plain presence command: %s", cmd)
	}
	if srv := strings.Join(cs[0].serverArgs("127.0.0.1:4400"), " "); srv != "-addr 127.0.0.1:4400 -log-level warn" {
		t.Errorf("plain presence server: %s", srv)
	}
	deflated := "phxbench -scenario connect -n 10000 -rate 5000 -topic room:bench -procs 2 -duration 2m -compress -baseline -url ws://127.0.0.1:4400/socket/websocket -pid $PID -metrics http://127.0.0.1:4400/metrics"
	if cmd := shellJoin(cs[1].command("phxbench", "127.0.0.1:4400", "$PID", "", "")); cmd != deflated {
		t.Errorf("deflate presence command: %s", cmd)
	}
	if srv := strings.Join(cs[1].serverArgs("127.0.0.1:4400"), " "); srv != "-addr 127.0.0.1:4400 -log-level warn -compress" {
		t.Errorf("deflate presence server: %s", srv)
	}
	var plan strings.Builder
	if code := Main([]string{"-plan", "-only", "presence"}, &plan, io.Discard); code != 0 ||
		!strings.Contains(plan.String(), "presence-10000-deflate (presence)\n  phxd -addr 127.0.0.1:4400 -log-level warn -compress & PID=$!\n") ||
		!strings.Contains(plan.String(), "presence-10000 (presence)\n  phxd -addr 127.0.0.1:4400 -log-level warn & PID=$!\n") {
		t.Errorf("plan (exit %d):\n%s", code, plan.String())
	}

	for _, bad := range [][]string{{}, {"-phxd", "x", "-only", "nope"}, {"-phxd", "x", "-runs", "0"}, {"-phxd", "x", "extra"}} {
		if _, err := parseSuiteFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// fakeResult is a JSON result of the given scenario, round-tripped as the
// suite reads it from -out.
func fakeResult(t *testing.T, kind string, n int, scale float64) *engine.Result {
	t.Helper()
	r := &engine.Result{Scenario: kind, OK: true, Errors: map[string]int64{}, Latency: map[string]hist.Summary{},
		Counters: engine.Counters{Clients: int64(n), Joined: int64(n), OpenAtEnd: int64(n)},
		Rates:    engine.Rates{ConnectJoinPerS: 5000 * scale},
		Phases:   map[string]float64{"last_join": 2, "close": 7},
		Server: &engine.ServerCost{RSSStart: 12 << 20, RSSEnd: 12<<20 + int64(n)*5000, RSSPerSocket: 5000 * scale,
			CPUS: 3, CPUPerConnectJoinUS: 180 * scale, ThreadsMax: 14, GoroutinesMax: 63,
			Samples: []procstat.Sample{{T: 1, CPU: 1, Threads: 9, Goroutines: 23}, {T: 3, CPU: 1.9, Threads: 10, Goroutines: 40},
				{T: 6, CPU: 1.93, Threads: 10, Goroutines: 21}, {T: 7.5, CPU: 2.5, Threads: 14, Goroutines: 63}}},
	}
	switch kind {
	case "fanout":
		r.Server.CPUPerDeliveryUS = 3.7 * scale
		r.Baseline = &baseline.Result{CPUPerWriteUS: 7}
		r.Server.VsBareWrite = r.Server.CPUPerDeliveryUS / 7
		r.Deliveries = engine.Deliveries{Received: 200 * int64(n+1), Expected: 200 * int64(n+1)}
		r.Rates.DeliveriesPerS = 290000
		r.Latency["delivery"] = hist.Summary{P50: 2.9e6, P99: 4.2e6}
	case "echo":
		r.Server.CPUPerPushUS = 118 * scale
		r.Latency["push:echo"] = hist.Summary{P50: 1450, P99: 900 * scale}
		r.Rates.RepliesPerS = 2000
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back engine.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

func TestFiguresOf(t *testing.T) {
	f := figuresOf(fakeResult(t, "idle", 10000, 1))
	want := map[string]float64{"rss_per_socket_b": 5000, "goroutines_held": 21, "threads_held": 10,
		"goroutines_peak": 63, "threads_peak": 14, "cpu_per_connect_join_us": 180, "ok": 1, "errors": 0}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("idle %s = %v, want %v", k, f[k], v)
		}
	}
	if math.Abs(f["idle_cpu_pct"]-1) > 1e-9 { // 0.03 s over 3 s
		t.Errorf("idle_cpu_pct = %v, want 1", f["idle_cpu_pct"])
	}
	if _, ok := f["lost"]; ok {
		t.Error("idle run has a lost figure")
	}
	f = figuresOf(fakeResult(t, "fanout", 5000, 1))
	if f["cpu_per_delivery_us"] != 3.7 || f["bare_write_us"] != 7 || f["lost"] != 0 || f["delivery_p99_us"] != 4.2e6 ||
		math.Abs(f["vs_bare_write"]-3.7/7) > 1e-12 {
		t.Errorf("fanout figures %v", f)
	}
	f = figuresOf(fakeResult(t, "echo", 1000, 1))
	if f["cpu_per_echo_us"] != 118 || f["echo_p50_us"] != 1450 || f["echo_p99_us"] != 900 || f["echo_replies_per_s"] != 2000 {
		t.Errorf("echo figures %v", f)
	}
}

// fakeSuite is a suite of every case with three runs each.
func fakeSuite(t *testing.T) *suiteFile {
	t.Helper()
	o, err := parseSuiteFlags([]string{"-plan"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sf := &suiteFile{Cases: suiteCases(o), Machine: machineInfo{NProc: 2, LoadStart: "1.00 2.00 3.00", Runs: 3,
		PhxdRev: "9c959f3aaaaaaaaaaaaa", PhxdDirty: "true", PhxdSHA: "abc", PhxdSHAEnd: "abc"}}
	for round, scale := range []float64{1, 0.5, 2} {
		for _, c := range sf.Cases {
			r := fakeResult(t, c.Kind, c.N, scale)
			if strings.HasSuffix(c.ID, deflateSuffix) {
				r.Counters.BytesIn = int64(3e8 * scale)
				r.Compression = &engine.Compression{Offered: 10000, Negotiated: 10000 - int64(round), Mode: "mixed",
					BytesWire: r.Counters.BytesIn, BytesPlain: int64(7.5e9 * scale), Ratio: 25}
			}
			sf.Runs = append(sf.Runs, &runRecord{ID: c.ID, Case: c.ID, Round: round + 1, Figures: figuresOf(r)})
		}
	}
	// A failed run is left out of the medians.
	sf.Runs = append(sf.Runs, &runRecord{ID: "echo-1000-r4", Case: "echo-1000", Round: 4, Err: "killed"})
	return sf
}

func TestSuiteMarkdown(t *testing.T) {
	sf := fakeSuite(t)
	if vs := sf.values("echo-1000", "cpu_per_echo_us"); !slices.Equal(vs, []float64{118, 59, 236}) {
		t.Errorf("values = %v", vs)
	}
	md := suiteMarkdown(sf, "growth.svg")
	for _, want := range []string{
		// median of 5000, 2500, 10000 B per socket; 31.8 KB Phoenix; target missed
		"| RSS per idle joined socket at 10,000 | **4.88 KiB** | 2.44 KiB – 9.77 KiB | 4.88 KiB, 2.44 KiB, 9.77 KiB | 31.8 KB (at 10,000) | 0.16× | ≤ 2 KB (2,000 B) | **missed** |",
		"| goroutines, sockets held at 15,000 | **21** | 21 – 21 | 21, 21, 21 | — | — | bounded by the pool (≤ 100) | met |",
		"| CPU per delivery ÷ one-frame-per-write floor at 10,000 | **0.53×** | 0.26× – 1.06× | 0.53×, 0.26×, 1.06× | — | — | ≤ 0.3× | **missed** |",
		"| server CPU per delivery at 5,000 | **3.70 µs** | 1.85 µs – 7.40 µs | 3.70 µs, 1.85 µs, 7.40 µs | — | — | — | — |",
		"| echo round trip p99 | **900µs** | 450µs – 1.80ms | 900µs, 450µs, 1.80ms | 631µs | 1.43× | ≤ 200µs | **missed** |",
		"| server CPU per connect+join | **180.0 µs** |",
		"| 15,000 | 83.5 MiB | 4.88 KiB | 4.88 KiB | 21 | 10 | 1.0% | 180.0 µs | 3.70 µs | 7.00 µs | 0.53× |",
		"| 1,000 | 16.8 MiB | 4.88 KiB | — | 21 |",
		"phxbench -scenario idle -n 1000 -d 5s -url ws://127.0.0.1:4400/socket/websocket -pid $PID -metrics http://127.0.0.1:4400/metrics\n",
		"![memory and CPU against sockets](growth.svg)",
		"| echo-1000-r4 | 0.00 | 0.00 | 0.0 s | 0.00 s | 0.00 s | ERROR: killed |",
		"commit `9c959f3aaaaa` plus uncommitted changes",
		// presence: the plain case's rows, then its deflate twin's, and each case's server
		"| server CPU per join (first connect → last join) | **180.0 µs** | 90.0 µs – 360.0 µs |",
		"| server CPU per join (first connect → last join), deflate | **180.0 µs** |",
		"| bytes received by the clients, on the wire, deflate | **0.30 GB** | 0.15 GB – 0.60 GB |",
		"| bytes received by the clients, inflated, deflate | **7.50 GB** |",
		"| inflated ÷ on the wire, deflate | **25.00×** |",
		"| sockets with permessage-deflate agreed (worst run), deflate | **9999** | 9998 – 10000 | 10000, 9999, 9998 | — | — | 10,000 | **missed** |",
		"phxd -addr 127.0.0.1:4400 -log-level warn -compress & PID=$!   # the server of presence-10000-deflate\n" +
			"phxbench -scenario connect -n 10000 -rate 5000 -topic room:bench -procs 2 -duration 2m -compress -baseline -url",
		"The rows marked *deflate* are the case `presence-10000-deflate`",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "binary changed") {
		t.Error("unchanged binary reported as changed")
	}
	if t.Failed() {
		t.Log(md)
	}
}

func TestVerdictWorst(t *testing.T) {
	r := figRow{op: "<=", target: 0, worst: true}
	if v := r.verdict([]float64{0, 3, 0}); v != "**missed**" {
		t.Errorf("lost 0,3,0: %s", v)
	}
	r.worst = false
	if v := r.verdict([]float64{0, 3, 0}); v != "met" {
		t.Errorf("median of 0,3,0: %s", v)
	}
	if v := r.verdict(nil); v != "no data" {
		t.Errorf("no runs: %s", v)
	}
	if v := (figRow{}).verdict([]float64{1}); v != "—" {
		t.Errorf("no target: %s", v)
	}
}

func TestGrowthSVG(t *testing.T) {
	svg := growthSVG(growthRows(fakeSuite(t)))
	d := xml.NewDecoder(strings.NewReader(svg))
	polylines := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("growth SVG is not well-formed: %v", err)
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 12 {
		t.Errorf("%d lines plotted, want 12", polylines)
	}
	if !strings.Contains(svg, `<svg y="560" `) {
		t.Error("third chart not placed below the others")
	}
}

func TestSpliceDoc(t *testing.T) {
	doc := "# B\n\nprose\n" + docBegin + "\nold tables\n" + docEnd + "\nmore prose\n"
	got, err := spliceBetween(doc, docBegin, docEnd, "new tables\n")
	if want := "# B\n\nprose\n" + docBegin + "\nnew tables\n" + docEnd + "\nmore prose\n"; err != nil || got != want {
		t.Errorf("spliceDoc = %q, %v", got, err)
	}
	if _, err := spliceBetween("no markers", docBegin, docEnd, "x"); err == nil {
		t.Error("no markers: no error")
	}
	if _, err := spliceBetween(docEnd+"\n"+docBegin+"\n", docBegin, docEnd, "x"); err == nil {
		t.Error("markers out of order: no error")
	}
}

func TestServerMetrics(t *testing.T) {
	m := map[string]float64{"phxgo_frames_out_total": 2000200, "phxgo_writev_calls_total": 500050}
	f := map[string]float64{}
	addServerMetrics(f, m)
	if f["frames_per_writev"] != 2000200.0/500050 {
		t.Errorf("frames_per_writev = %v", f["frames_per_writev"])
	}
	addServerMetrics(f, nil) // no scrape: nothing to add
}
