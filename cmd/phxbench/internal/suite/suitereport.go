package suite

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
)

// The suite's figures: what each run's JSON result yields (figuresOf), the
// medians over runs, the markdown tables with Phoenix's reference figures
// and the targets of issue 6 (the growth plot is in suitegrowth.go).

// figuresOf extracts a run's figures. Keys ending in _b are bytes, _us
// microseconds; absent keys did not apply to the run.
func figuresOf(r *engine.Result) map[string]float64 {
	f := map[string]float64{
		"clients": float64(r.Counters.Clients),
		"joined":  float64(r.Counters.Joined),
		"ok":      b2f(r.OK),
	}
	var errs int64
	for _, v := range r.Errors {
		errs += v
	}
	f["errors"] = float64(errs)
	if v := r.Rates.ConnectJoinPerS; v > 0 {
		f["connect_joins_per_s"] = v
	}
	if s := r.Server; s != nil {
		f["server_cpu_s"] = s.CPUS
		f["rss_start_b"] = float64(s.RSSStart)
		f["rss_held_b"] = float64(s.RSSEnd)
		if !s.RSSBelowStart {
			f["rss_per_socket_b"] = s.RSSPerSocket
		}
		f["threads_peak"] = float64(s.ThreadsMax)
		if s.GoroutinesMax > 0 {
			f["goroutines_peak"] = float64(s.GoroutinesMax)
		}
		setPos(f, "cpu_per_connect_join_us", s.CPUPerConnectJoinUS)
		setPos(f, "cpu_per_echo_us", s.CPUPerPushUS)
		setPos(f, "cpu_per_delivery_us", s.CPUPerDeliveryUS)
		setPos(f, "vs_bare_write", s.VsBareWrite)
		if h, ok := heldStats(s.Samples, r.Phases["last_join"], r.Phases["close"]); ok {
			f["threads_held"] = h.threads
			f["idle_cpu_pct"] = 100 * h.cores
			if h.goroutines > 0 {
				f["goroutines_held"] = h.goroutines
			}
		}
	}
	if b := r.Baseline; b != nil {
		setPos(f, "bare_write_us", b.CPUPerWriteUS)
	}
	if d := r.Deliveries; d.Expected > 0 || d.Received > 0 {
		f["lost"] = float64(d.Lost)
		f["expected"] = float64(d.Expected)
		f["deliveries_per_s"] = r.Rates.DeliveriesPerS
		if r.Server != nil {
			if h, ok := heldStats(r.Server.Samples, r.Phases["first_publish"], r.Phases["last_delivery"]); ok {
				f["threads_fanout"] = h.threads
				if h.goroutines > 0 {
					f["goroutines_fanout"] = h.goroutines
				}
			}
		}
		if s, ok := r.Latency["delivery"]; ok {
			f["delivery_p50_us"], f["delivery_p99_us"] = s.P50, s.P99
		}
	}
	if s, ok := r.Latency["push:echo"]; ok {
		f["echo_p50_us"], f["echo_p99_us"] = s.P50, s.P99
		f["echo_replies_per_s"] = r.Rates.RepliesPerS
	}
	addFloorFigures(f, r)
	addDeflateFigures(f, r)
	return f
}

// addServerMetrics adds the figures derived from phxd's own counters,
// scraped from /metrics once the run ended.
func addServerMetrics(f, m map[string]float64) {
	if f == nil || m == nil {
		return
	}
	if w := m["phxgo_writev_calls_total"]; w > 0 {
		f["frames_per_writev"] = m["phxgo_frames_out_total"] / w
	}
}

func setPos(f map[string]float64, k string, v float64) {
	if v > 0 {
		f[k] = v
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// held is the server's state during a window of the run.
type held struct {
	goroutines, threads float64 // largest sample
	cores               float64 // CPU seconds per second
}

// goroutineLag is how stale a sample's goroutine count may be: the sampler
// scrapes /metrics at most once a second and carries the value over to the
// samples in between (every 200 ms), so only samples this long after a
// window's start surely hold a count scraped inside it.
const goroutineLag = 1.25

// heldStats reads the server samples taken within [from, to] (seconds since
// the start): the largest goroutine and thread counts and the CPU rate. ok
// is false with fewer than two samples there.
func heldStats(s []procstat.Sample, from, to float64) (held, bool) {
	var h held
	first, last := -1, -1
	for i, x := range s {
		if x.T < from || x.T > to {
			continue
		}
		if first < 0 {
			first = i
		}
		last = i
		h.threads = max(h.threads, float64(x.Threads))
		if x.T >= from+goroutineLag {
			h.goroutines = max(h.goroutines, float64(x.Goroutines))
		}
	}
	if first < 0 || last == first || s[last].T <= s[first].T {
		return h, false
	}
	h.cores = (s[last].CPU - s[first].CPU) / (s[last].T - s[first].T)
	return h, true
}

// median of vs (the mean of the middle two for an even count); NaN when empty.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// values returns key's value in every successful run of a case, in run order.
func (sf *suiteFile) values(caseID, key string) []float64 {
	var vs []float64
	for _, r := range sf.Runs {
		if r.Case != caseID || !r.ok() {
			continue
		}
		if v, ok := r.Figures[key]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// figRow is one line of an item's table.
type figRow struct {
	label   string
	caseID  string
	key     string
	format  func(float64) string
	phoenix float64 // Phoenix's figure in the same unit, 0: none
	phxText string  // how Phoenix's figure is shown
	target  float64
	op      string // "<=", ">=" or "" (no target)
	tgtText string
	worst   bool // judge the worst run rather than the median
	noRatio bool // show Phoenix's figure without a ratio
}

// verdict judges v against the row's target.
func (fr figRow) verdict(vs []float64) string {
	if fr.op == "" {
		return "—"
	}
	if len(vs) == 0 {
		return "no data"
	}
	v := median(vs)
	if fr.worst {
		if fr.op == "<=" {
			v = slices.Max(vs)
		} else {
			v = slices.Min(vs)
		}
	}
	if fr.op == "<=" && v <= fr.target || fr.op == ">=" && v >= fr.target {
		return "met"
	}
	return "**missed**"
}

// tableRow renders the row for sf's runs.
func (fr figRow) tableRow(sf *suiteFile) string {
	vs := sf.values(fr.caseID, fr.key)
	med, runs, spread := "no data", "—", "—"
	if len(vs) > 0 {
		med = fr.format(median(vs))
		spread = fr.format(slices.Min(vs)) + " – " + fr.format(slices.Max(vs))
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = fr.format(v)
		}
		runs = strings.Join(parts, ", ")
	}
	phx, ratio := "—", "—"
	if fr.phxText != "" {
		phx = fr.phxText
	}
	if fr.phoenix > 0 && len(vs) > 0 && !fr.noRatio {
		ratio = fmt.Sprintf("%.2f×", median(vs)/fr.phoenix)
	}
	tgt := "—"
	if fr.tgtText != "" {
		tgt = fr.tgtText
	}
	return fmt.Sprintf("| %s | **%s** | %s | %s | %s | %s | %s | %s |\n", fr.label, med, spread, runs, phx, ratio, tgt, fr.verdict(vs))
}

// Formats.
func fmtKiB(b float64) string   { return fmt.Sprintf("%.2f KiB", b/1024) }
func fmtMiB(b float64) string   { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
func fmtUS(v float64) string    { return fmt.Sprintf("%.1f µs", v) }
func fmtUS2(v float64) string   { return fmt.Sprintf("%.2f µs", v) }
func fmtLat(v float64) string   { return report.Dur(v) }
func fmtCount(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', -1, 64) }
func fmtRate(v float64) string  { return fmt.Sprintf("%s/s", report.Num(v)) }
func fmtX(v float64) string     { return fmt.Sprintf("%.2f×", v) }
func fmtPct(v float64) string   { return fmt.Sprintf("%.1f%%", v) }
func fmtRatio(v float64) string { return fmt.Sprintf("%.2f", v) }

// Reference figures and targets (issue 13, which restates issue 6's with
// both servers measured side by side on this machine: Phoenix 1.7.21 on
// Bandit, medians of 3, fresh servers, the bench:* channel).
const (
	phxRSSPerSocket = 31_800 // bytes ("31.8 KB")
	tgtRSSPerSocket = 2_000  // bytes ("2 KB", read strictly)
	tgtGoroutines   = 100    // bounded by the worker pool, not by sockets
	tgtThreads      = 99     // "in the tens"
	phxDelivery10k  = 17.7   // µs per delivery at 10,000 subscribers
	tgtVsBare       = 0.3    // "stays ≤ 0.3× a bare write"
	phxConnectCPU   = 276    // µs, 10,000 sockets
	tgtConnectCPU   = 40     // µs
	phxEchoP50      = 233    // µs
	phxEchoP99      = 631
	phxEchoCPU      = 175
	tgtEchoCPU      = 20
	tgtEchoP99      = 200
)

// itemRows are the table rows of an item, for the cases of this suite.
func itemRows(item string, sf *suiteFile) []figRow {
	has := func(id string) bool {
		return slices.ContainsFunc(sf.Cases, func(c suiteCase) bool { return c.ID == id })
	}
	var rows []figRow
	switch item {
	case "idle":
		for _, n := range idleSizes {
			id := fmt.Sprintf("idle-%d", n)
			if !has(id) {
				continue
			}
			at := " at " + thousands(n)
			rows = append(rows,
				figRow{label: "RSS per idle joined socket" + at, caseID: id, key: "rss_per_socket_b", format: fmtKiB,
					phoenix: phxRSSPerSocket, phxText: "31.8 KB (at 10,000)", target: tgtRSSPerSocket, op: "<=", tgtText: "≤ 2 KB (2,000 B)"},
				figRow{label: "server RSS, sockets held" + at, caseID: id, key: "rss_held_b", format: fmtMiB},
				figRow{label: "goroutines, sockets held" + at, caseID: id, key: "goroutines_held", format: fmtCount,
					target: tgtGoroutines, op: "<=", tgtText: "bounded by the pool (≤ 100)", worst: true},
				figRow{label: "OS threads, sockets held" + at, caseID: id, key: "threads_held", format: fmtCount,
					target: tgtThreads, op: "<=", tgtText: "tens (< 100)", worst: true},
			)
		}
	case "fanout":
		for _, n := range fanoutSizes {
			id := fmt.Sprintf("fanout-%d", n)
			if !has(id) {
				continue
			}
			at := " at " + thousands(n)
			del := figRow{label: "server CPU per delivery" + at, caseID: id, key: "cpu_per_delivery_us", format: fmtUS2}
			if n == 10000 {
				del.phoenix, del.phxText = phxDelivery10k, "17.7 µs"
			}
			rows = append(rows, del,
				figRow{label: "floor: bare write(2), one frame per call, same run" + at, caseID: id, key: "bare_write_us", format: fmtUS2},
				figRow{label: "CPU per delivery ÷ one-frame-per-write floor" + at, caseID: id, key: "vs_bare_write", format: fmtX,
					target: tgtVsBare, op: "<=", tgtText: "≤ 0.3×"},
				figRow{label: "frames per writev(2), phxd, this run" + at, caseID: id, key: "frames_per_writev", format: fmtRatio},
				figRow{label: "floor: writev(2) of as many frames per call as phxd, per frame" + at, caseID: id, key: "bare_writev_coalesced_us", format: fmtUS2},
				figRow{label: "CPU per delivery ÷ coalesced floor" + at, caseID: id, key: "vs_coalesced", format: fmtX},
				figRow{label: "lost messages (worst run)" + at, caseID: id, key: "lost", format: fmtCount, target: 0, op: "<=", tgtText: "0", worst: true},
				figRow{label: "goroutines during the fan-out" + at, caseID: id, key: "goroutines_fanout", format: fmtCount,
					target: tgtGoroutines, op: "<=", tgtText: "bounded by the pool (≤ 100)", worst: true},
				figRow{label: "deliveries/s" + at, caseID: id, key: "deliveries_per_s", format: fmtRate},
				figRow{label: "delivery latency p99" + at, caseID: id, key: "delivery_p99_us", format: fmtLat},
			)
		}
	case "connect":
		id := fmt.Sprintf("connect-%d", connectN)
		if has(id) {
			rows = append(rows,
				figRow{label: "connect+join rate, 15,000 sockets", caseID: id, key: "connect_joins_per_s", format: fmtRate},
				figRow{label: "server CPU per connect+join", caseID: id, key: "cpu_per_connect_join_us", format: fmtUS,
					phoenix: phxConnectCPU, phxText: "276 µs (at 10,000)", target: tgtConnectCPU, op: "<=", tgtText: "≤ 40 µs"},
				figRow{label: "floor: bare server CPU per connect+join, same run", caseID: id, key: "connect_floor_us", format: fmtUS},
				figRow{label: "server CPU per connect+join ÷ floor", caseID: id, key: "connect_vs_floor", format: fmtX},
				figRow{label: "errors (worst run)", caseID: id, key: "errors", format: fmtCount, target: 0, op: "<=", tgtText: "0", worst: true},
			)
		}
	case "echo":
		id := fmt.Sprintf("echo-%d", echoN)
		if has(id) {
			rows = append(rows,
				figRow{label: "echo round trip p50", caseID: id, key: "echo_p50_us", format: fmtLat, phoenix: phxEchoP50, phxText: "233µs"},
				figRow{label: "echo round trip p99", caseID: id, key: "echo_p99_us", format: fmtLat, phoenix: phxEchoP99, phxText: "631µs",
					target: tgtEchoP99, op: "<=", tgtText: "≤ 200µs"},
				figRow{label: "server CPU per echo", caseID: id, key: "cpu_per_echo_us", format: fmtUS, phoenix: phxEchoCPU,
					phxText: "175 µs", target: tgtEchoCPU, op: "<=", tgtText: "≤ 20 µs"},
				figRow{label: "floor: bare server CPU per echo (epoll_wait + read + write), same run", caseID: id, key: "echo_floor_us", format: fmtUS},
				figRow{label: "server CPU per echo ÷ floor", caseID: id, key: "echo_vs_floor", format: fmtX},
				figRow{label: "floor round trip p50 (bare server)", caseID: id, key: "echo_floor_p50_us", format: fmtLat},
				figRow{label: "floor round trip p99 (bare server)", caseID: id, key: "echo_floor_p99_us", format: fmtLat},
				figRow{label: "echo round trip p99 ÷ floor p99", caseID: id, key: "echo_p99_vs_floor", format: fmtX},
				figRow{label: "phxd with the floor's client: round trip p50", caseID: id, key: "echo_fc_p50_us", format: fmtLat},
				figRow{label: "phxd with the floor's client: round trip p99", caseID: id, key: "echo_fc_p99_us", format: fmtLat,
					target: tgtEchoP99, op: "<=", tgtText: "≤ 200µs"},
				figRow{label: "phxd with the floor's client: p99 ÷ floor p99 (same client)", caseID: id, key: "echo_fc_p99_vs_floor", format: fmtX},
				figRow{label: "phxd with the floor's client: server CPU per echo", caseID: id, key: "echo_fc_cpu_us", format: fmtUS},
				figRow{label: "echo replies/s achieved", caseID: id, key: "echo_replies_per_s", format: fmtRate},
			)
			rows = append(rows, gcRows(id)...)
		}
	default:
		rows = moreItemRows(item, has)
	}
	return rows
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// itemTitles head the items' sections.
var itemTitles = map[string]string{
	"idle":     "1. Memory, goroutines and threads per idle joined socket",
	"fanout":   "2. Fan-out: server CPU per delivery against a bare write(2)",
	"connect":  "3. Connect + join",
	"echo":     "4. Echo: 2,000 pushes/s over 1,000 sockets for 10 s",
	"presence": "6. Presence at scale: 10,000 sockets join one room:* topic (presence on), 5,000 opens/s offered",
	"slow":     "7. A slow handler: one channel's handler sleeps 1 s per event while 1,000 sockets echo",
	"growth":   "5. Growth with the number of sockets",
}

// suiteMarkdown renders the suite's tables: the measured binary and
// machine, one table per item with its commands, the growth table and plot,
// and every run.
func suiteMarkdown(sf *suiteFile, svgRel string) string {
	var b strings.Builder
	m := sf.Machine
	b.WriteString("## What was measured\n\n")
	dirty := ""
	if m.PhxdDirty == "true" {
		dirty = " plus uncommitted changes (vcs.modified=true)"
	}
	rev := m.PhxdRev
	if len(rev) > 12 {
		rev = rev[:12]
	}
	from := fmt.Sprintf("from commit `%s`%s", rev, dirty)
	if rev == "" {
		from = "without VCS stamping (build with -buildvcs=true to record the commit)"
	}
	fmt.Fprintf(&b, "- phxd binary `%s` (sha256 %s…), built by %s %s\n", m.PhxdPath, m.PhxdSHA, orQ(m.PhxdGo), from)
	if m.PhxdSHAEnd != "" && m.PhxdSHAEnd != m.PhxdSHA {
		fmt.Fprintf(&b, "- **the phxd binary changed during the suite** (sha256 %s… at the end): runs mix two binaries\n", m.PhxdSHAEnd)
	}
	if m.GitHead != "" {
		fmt.Fprintf(&b, "- work tree the suite ran in: HEAD `%s` with %d dirty files (`git status --short`) at the start, `%s` with %d at the end\n",
			m.GitHead, m.GitDirty, m.GitHeadEnd, m.GitDirtyEnd)
	}
	fmt.Fprintf(&b, "- machine: %d CPUs (%s), %s, %s RAM, open-files limit %d\n", m.NProc, orQ(m.CPUModel), m.Kernel, orQ(m.MemTotal), m.NoFile)
	fmt.Fprintf(&b, "- load average (1/5/15 min): %s at the start, %s at the end; each run's 1-min load and the CPU other processes used during it are listed under [Runs](#runs)\n",
		m.LoadStart, orQ(m.LoadEnd))
	if sf.Command != "" {
		fmt.Fprintf(&b, "- suite command: `%s`\n", sf.Command)
	}
	wall := "?"
	if !m.Finished.IsZero() {
		wall = m.Finished.Sub(m.Started).Round(time.Second).String()
	}
	fmt.Fprintf(&b, "- %s, %s; %d rounds (every case once per round, fresh phxd each run); tables show the median and every run\n",
		m.Started.Format("2006-01-02 15:04 MST"), wall, m.Runs)
	if m.Quick {
		b.WriteString("- **-quick smoke run: 1/20 of the sockets, not the suite's figures**\n")
	}
	b.WriteString("\n")
	for _, item := range suiteItems[:len(suiteItems)-1] { // growth has its own table
		rows := itemRows(item, sf)
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "### %s\n\n", itemTitles[item])
		if n := itemNotes[item]; n != "" {
			b.WriteString(n + "\n\n")
		}
		b.WriteString("| Figure | Median | Spread (min – max) | Runs | Phoenix | vs Phoenix | Target | Verdict |\n|---|---:|---|---|---:|---:|---|---|\n")
		for _, r := range rows {
			b.WriteString(r.tableRow(sf))
		}
		b.WriteString("\n")
		writeCommands(&b, sf, item)
	}
	if sf.hasItem("growth") {
		writeGrowth(&b, sf, svgRel)
	}
	writeRuns(&b, sf)
	return b.String()
}

func orQ(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// writeCommands lists the commands of an item's cases.
func writeCommands(b *strings.Builder, sf *suiteFile, item string) {
	b.WriteString("```sh\nphxd -addr 127.0.0.1:4400 -log-level warn & PID=$!   # a fresh server per run\n")
	for _, c := range sf.Cases {
		if slices.Contains(c.Items, item) && len(c.Server) > 0 {
			fmt.Fprintf(b, "phxd %s & PID=$!   # the server of %s\n", strings.Join(c.serverArgs("127.0.0.1:4400"), " "), c.ID)
		}
		if slices.Contains(c.Items, item) {
			fmt.Fprintf(b, "%s\n", shellJoin(c.command("phxbench", "127.0.0.1:4400", "$PID", "", "")))
		}
	}
	b.WriteString("```\n\n")
}

// writeRuns lists every run.
func writeRuns(b *strings.Builder, sf *suiteFile) {
	b.WriteString("### Runs\n\n`load` is the 1-minute load average before the run; `others` the CPU (in cores, averaged over the run) the machine spent outside phxd and phxbench, from /proc/stat.\n\n")
	b.WriteString("| run | load | others | wall | phxd CPU | phxbench CPU | result |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, r := range sf.Runs {
		res := "ok"
		switch {
		case !r.ok():
			res = "ERROR: " + r.Err
		case r.Exit != engine.ExitOK:
			var fails []string
			for _, c := range r.Checks {
				fails = append(fails, c.Name+": "+c.Detail)
			}
			res = fmt.Sprintf("FAIL (%s)", strings.Join(fails, "; "))
		}
		fmt.Fprintf(b, "| %s | %.2f | %.2f | %.1f s | %.2f s | %.2f s | %s |\n", r.ID, r.Load1, r.Others, r.WallS, r.ServerS, r.ClientS, res)
	}
	b.WriteString("\n")
}
