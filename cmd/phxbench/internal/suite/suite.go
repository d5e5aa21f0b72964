package suite

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
)

// The performance suite (issue 6): phxbench -suite -phxd PATH runs the
// built-in scenarios against a fresh phxd child process per run, several
// rounds, and writes the medians as markdown tables (-md), a growth plot
// (-svg), every run's JSON result, HTML report and summary (-dir/runs), and
// the per-run figures (-dir/suite.json). It builds nothing: phxd is a
// binary built beforehand. Each run is this binary started again as an
// ordinary phxbench command, printed in the tables so it can be rerun alone.

// suiteOptions are the -suite flags.
type suiteOptions struct {
	phxd    string
	dir     string
	md, svg string
	doc     string
	render  string
	runs    int
	portLo  int
	portHi  int
	only    map[string]bool
	quick   bool
	hold    time.Duration
	echoFor time.Duration
	scale   float64
	plan    bool
}

// suiteItems are the suite's parts, in order (issue 6, items 1–5; issue
// 13: presence at scale, a slow handler beside echo).
var suiteItems = []string{"idle", "fanout", "connect", "echo", "presence", "slow", "growth"}

// parseSuiteFlags parses phxbench -suite's flags.
func parseSuiteFlags(args []string, stderr io.Writer) (*suiteOptions, error) {
	o := &suiteOptions{}
	fs := flag.NewFlagSet("phxbench -suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var ports, only string
	fs.StringVar(&o.phxd, "phxd", "", "path of a built phxd binary (required; the suite builds nothing)")
	fs.StringVar(&o.dir, "dir", "out/bench", "directory for every run's JSON, HTML report, summary and the suite's files")
	fs.StringVar(&o.md, "md", "", "markdown tables file (default DIR/suite.md)")
	fs.StringVar(&o.svg, "svg", "", "growth plot SVG file (default DIR/growth.svg)")
	fs.StringVar(&o.doc, "doc", "", "also put the tables into this markdown file, between the lines "+docBegin+" and "+docEnd)
	fs.IntVar(&o.runs, "runs", 3, "rounds: every case runs this many times (fresh server each run); tables show medians")
	fs.StringVar(&ports, "ports", "4400-4499", "phxd listen ports to rotate through (127.0.0.1), lo-hi")
	fs.StringVar(&only, "only", strings.Join(suiteItems, ","), "items to run: "+strings.Join(suiteItems, ","))
	fs.BoolVar(&o.quick, "quick", false, "smoke test of the suite: 1/20 of the sockets and rates, 1 s holds, 2 s echo, 1 round")
	fs.BoolVar(&o.plan, "plan", false, "print the runs' commands and exit")
	fs.StringVar(&o.render, "render", "", "run nothing: write -md, -svg and -doc from a finished suite's suite.json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.phxd == "" && !o.plan && o.render == "" {
		return nil, errors.New("-phxd PATH is required (build it first: go build -o PATH ./cmd/phxd)")
	}
	lo, hi, err := parsePortRange(ports)
	if err != nil {
		return nil, err
	}
	o.portLo, o.portHi = lo, hi
	o.only = map[string]bool{}
	for s := range strings.SplitSeq(only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(suiteItems, s) {
			return nil, fmt.Errorf("-only: unknown item %q (items: %s)", s, strings.Join(suiteItems, ","))
		}
		o.only[s] = true
	}
	o.scale, o.hold, o.echoFor = 1, 5*time.Second, 10*time.Second
	if o.quick {
		o.scale, o.hold, o.echoFor = 0.05, time.Second, 2*time.Second
		if !flagSet(fs, "runs") {
			o.runs = 1
		}
	}
	if o.runs < 1 || o.runs > 50 {
		return nil, errors.New("-runs must be within 1..50")
	}
	if o.md == "" {
		o.md = filepath.Join(o.dir, "suite.md")
	}
	if o.svg == "" {
		o.svg = filepath.Join(o.dir, "growth.svg")
	}
	return o, nil
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parsePortRange parses "lo-hi" or a single port.
func parsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
		return 0, 0, fmt.Errorf("-ports: want lo-hi within 1..65535, got %q", s)
	}
	return lo, hi, nil
}

// suiteCase is one configuration the suite measures.
type suiteCase struct {
	ID       string   `json:"id"`               // e.g. idle-10000
	Kind     string   `json:"kind"`             // built-in scenario
	N        int      `json:"n"`                // sockets (fanout: subscribers)
	Items    []string `json:"items"`            // suite items it feeds
	Args     []string `json:"args"`             // phxbench flags, without url/pid/metrics/out/report
	Metrics  bool     `json:"metrics"`          // scrape go_goroutines (costs the server a little CPU)
	Baseline bool     `json:"baseline"`         // fanout, presence: -baseline
	GCTrace  bool     `json:"gctrace"`          // phxd runs with GODEBUG=gctrace=1 (its GC cycles are read from its log)
	Server   []string `json:"server,omitempty"` // phxd flags besides serverArgs' (presence-…-deflate: -compress)
}

// Suite sizes (issue 6).
var (
	idleSizes   = []int{10000, 15000}
	fanoutSizes = []int{5000, 10000}
	growthSizes = []int{1000, 5000, 10000, 15000}
)

const (
	connectN     = 15000
	echoN        = 1000
	echoRate     = 2000
	fanoutMsgs   = 200
	fanoutIn     = 100
	presenceN    = 10000
	presenceRate = 5000
	slowN        = 1000
)

// suiteCases lists the cases the selected items need, deduplicated.
func suiteCases(o *suiteOptions) []suiteCase {
	var cs []suiteCase
	add := func(c suiteCase, item string) {
		for i := range cs {
			if cs[i].ID == c.ID {
				cs[i].Items = append(cs[i].Items, item)
				return
			}
		}
		c.Items = []string{item}
		cs = append(cs, c)
	}
	sn := func(n int) int { return max(1, int(float64(n)*o.scale+0.5)) }
	idle := func(n int) suiteCase {
		return suiteCase{ID: fmt.Sprintf("idle-%d", n), Kind: "idle", N: n, Metrics: true,
			Args: []string{"-scenario", "idle", "-n", strconv.Itoa(sn(n)), "-d", o.hold.String()}}
	}
	fanout := func(n int) suiteCase {
		return suiteCase{ID: fmt.Sprintf("fanout-%d", n), Kind: "fanout", N: n, Metrics: true, Baseline: true,
			Args: []string{"-scenario", "fanout", "-n", strconv.Itoa(sn(n)), "-msgs", strconv.Itoa(fanoutMsgs),
				"-inflight", strconv.Itoa(fanoutIn)}}
	}
	sized := func(kind string, sizes []int, mk func(int) suiteCase) {
		var ns []int
		if o.only[kind] {
			ns = append(ns, sizes...)
		}
		if o.only["growth"] {
			ns = append(ns, growthSizes...)
		}
		slices.Sort(ns)
		for _, n := range slices.Compact(ns) {
			if o.only[kind] && slices.Contains(sizes, n) {
				add(mk(n), kind)
			}
			if o.only["growth"] && slices.Contains(growthSizes, n) {
				add(mk(n), "growth")
			}
		}
	}
	sized("idle", idleSizes, idle)
	sized("fanout", fanoutSizes, fanout)
	if o.only["connect"] {
		add(suiteCase{ID: fmt.Sprintf("connect-%d", connectN), Kind: "connect", N: connectN,
			Args: []string{"-scenario", "connect", "-n", strconv.Itoa(sn(connectN)), "-floor"}}, "connect")
	}
	rate := strconv.FormatFloat(max(1, float64(echoRate)*o.scale), 'f', -1, 64)
	if o.only["echo"] {
		add(suiteCase{ID: fmt.Sprintf("echo-%d", echoN), Kind: "echo", N: echoN, GCTrace: true,
			Args: []string{"-scenario", "echo", "-n", strconv.Itoa(sn(echoN)), "-rate", rate,
				"-d", o.echoFor.String(), "-floor", "-floor-d", min(5*time.Second, o.echoFor).String()}}, "echo")
	}
	if o.only["presence"] {
		// -baseline: the bytes floor (the run's bytes in as many write(2)
		// calls as phxd made, which -metrics gives).
		pc := suiteCase{ID: fmt.Sprintf("presence-%d", presenceN), Kind: "presence", N: presenceN, GCTrace: true,
			Metrics: true, Baseline: true,
			Args: []string{"-scenario", "connect", "-n", strconv.Itoa(sn(presenceN)), "-rate",
				strconv.FormatFloat(max(1, presenceRate*o.scale), 'f', -1, 64), "-topic", "room:bench", "-procs", "2",
				"-duration", "2m"}} // at 150 joins/s (today's code, a loaded machine) the built-in's 64 s bound cut the run short
		add(pc, "presence")
		add(deflateCase(pc), "presence")
	}
	if o.only["slow"] {
		add(suiteCase{ID: fmt.Sprintf("slow-%d", slowN), Kind: "slow", N: slowN,
			Args: []string{"-scenario", "slow", "-n", strconv.Itoa(sn(slowN)), "-rate", rate, "-d", o.echoFor.String()}}, "slow")
	}
	return cs
}

// command is the phxbench command line of a case against addr; pid is the
// server's pid ("$PID" in printed commands).
func (c suiteCase) command(exe, addr, pid, out, report string) []string {
	a := append([]string{exe}, c.Args...)
	if c.Baseline {
		a = append(a, "-baseline")
	}
	a = append(a, "-url", "ws://"+addr+"/socket/websocket", "-pid", pid)
	if c.Metrics {
		a = append(a, "-metrics", "http://"+addr+"/metrics")
	}
	if out != "" {
		a = append(a, "-out", out)
	}
	if report != "" {
		a = append(a, "-report", report)
	}
	return a
}

// serverArgs are phxd's flags for a run.
func serverArgs(addr string) []string { return []string{"-addr", addr, "-log-level", "warn"} }

// serverArgs are phxd's flags for a run of the case.
func (c suiteCase) serverArgs(addr string) []string { return append(serverArgs(addr), c.Server...) }

// runRecord is one run of one case.
type runRecord struct {
	ID      string             `json:"id"` // case-rN
	Case    string             `json:"case"`
	Round   int                `json:"round"`
	Start   time.Time          `json:"start"`
	WallS   float64            `json:"wall_s"`
	Load1   float64            `json:"load1"`        // 1-minute load average before the run
	Others  float64            `json:"others_cores"` // machine CPU busy minus server and client, in cores
	ServerS float64            `json:"server_cpu_s"` // phxd's whole life (rusage)
	ClientS float64            `json:"client_cpu_s"` // phxbench and its children (rusage)
	Exit    int                `json:"exit"`         // phxbench's exit status
	Err     string             `json:"error,omitempty"`
	Command string             `json:"command"`
	Figures map[string]float64 `json:"figures"`
	Metrics map[string]float64 `json:"server_metrics,omitempty"` // phxd's phxgo_* counters after the run
	PhxdAt  time.Time          `json:"phxd_started,omitzero"`    // just before phxd's exec (its gctrace times count from about then)
	Checks  []engine.Check     `json:"checks,omitempty"`
}

// ok reports whether the run produced figures.
func (r *runRecord) ok() bool { return r.Err == "" && r.Figures != nil }

// suiteFile is what -dir/suite.json holds.
type suiteFile struct {
	Command string       `json:"command"`
	Machine machineInfo  `json:"machine"`
	Cases   []suiteCase  `json:"cases"`
	Runs    []*runRecord `json:"runs"`
}

// Main is phxbench -suite (with -cluster: the cluster suite, cluster.go).
func Main(args []string, stdout, stderr io.Writer) int {
	if i := slices.IndexFunc(args, func(a string) bool { return a == "-cluster" || a == "--cluster" }); i >= 0 {
		return clusterMain(slices.Delete(slices.Clone(args), i, i+1), stdout, stderr)
	}
	o, err := parseSuiteFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return engine.ExitOK
		}
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		return engine.ExitUsage
	}
	if o.render != "" {
		return renderMain(o, stdout, stderr)
	}
	cases := suiteCases(o)
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		return engine.ExitRunError
	}
	if o.plan {
		for _, c := range cases {
			fmt.Fprintf(stdout, "%s (%s)\n  phxd %s & PID=$!\n  %s\n", c.ID, strings.Join(c.Items, ","),
				strings.Join(c.serverArgs("127.0.0.1:4400"), " "),
				shellJoin(c.command("phxbench", "127.0.0.1:4400", "$PID", c.ID+".json", c.ID+".html")))
		}
		return engine.ExitOK
	}
	if st, err := os.Stat(o.phxd); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		fmt.Fprintf(stderr, "phxbench -suite: -phxd %s is not an executable file\n", o.phxd)
		return engine.ExitUsage
	}
	runsDir := filepath.Join(o.dir, "runs")
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		return engine.ExitRunError
	}
	sys.RaiseNoFile()
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		for range sig {
			stop.Store(true)
		}
	}()

	sf := &suiteFile{Command: shellJoin(append([]string{"phxbench", "-suite"}, args...)), Machine: gatherMachine(o), Cases: cases}
	total := len(cases) * o.runs
	fmt.Fprintf(stderr, "phxbench suite: %d cases × %d rounds = %d runs; phxd %s (%s); load %s\n",
		len(cases), o.runs, total, o.phxd, sf.Machine.PhxdRev, sf.Machine.LoadStart)
	port := o.portLo
	k := 0
	for round := 1; round <= o.runs && !stop.Load(); round++ {
		for _, c := range cases {
			if stop.Load() {
				break
			}
			k++
			rec := runCase(o, exe, c, round, &port, runsDir)
			sf.Runs = append(sf.Runs, rec)
			fmt.Fprintf(stderr, "[%d/%d] %s  %s\n", k, total, rec.ID, runLine(c, rec))
			_ = writeJSONFile(filepath.Join(o.dir, "suite.json"), sf)
		}
	}
	sf.Machine.finish(o.phxd)
	code := engine.ExitOK
	if err := writeJSONFile(filepath.Join(o.dir, "suite.json"), sf); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		code = engine.ExitRunError
	}
	code = max(code, writeOutputs(sf, o, stdout, stderr))
	if stop.Load() {
		code = max(code, engine.ExitFailed)
	}
	return code
}

// writeOutputs renders the tables (-md, -doc) and the growth plot (-svg),
// prints the tables, and returns exitFailed when a run failed.
func writeOutputs(sf *suiteFile, o *suiteOptions, stdout, stderr io.Writer) int {
	code := engine.ExitOK
	fail := func(what string, err error) {
		fmt.Fprintf(stderr, "phxbench -suite: %s: %v\n", what, err)
		code = engine.ExitRunError
	}
	rel := func(from string) string {
		if r, err := filepath.Rel(filepath.Dir(from), o.svg); err == nil {
			return r
		}
		return o.svg
	}
	md := suiteMarkdown(sf, rel(o.md))
	if err := os.MkdirAll(filepath.Dir(o.md), 0o755); err != nil {
		fail("-md", err)
	} else if err := os.WriteFile(o.md, []byte(md), 0o644); err != nil {
		fail("-md", err)
	}
	if o.doc != "" {
		if err := updateDocBetween(o.doc, docBegin, docEnd, suiteMarkdown(sf, rel(o.doc))); err != nil {
			fail("-doc", err)
		}
	}
	if sf.hasItem("growth") {
		if err := os.WriteFile(o.svg, []byte(growthSVG(growthRows(sf))), 0o644); err != nil {
			fail("-svg", err)
		}
	}
	fmt.Fprint(stdout, md)
	for _, r := range sf.Runs {
		if !r.ok() || r.Exit != engine.ExitOK {
			code = max(code, engine.ExitFailed)
		}
	}
	return code
}

// hasItem reports whether some case feeds the item.
func (sf *suiteFile) hasItem(item string) bool {
	return slices.ContainsFunc(sf.Cases, func(c suiteCase) bool { return slices.Contains(c.Items, item) })
}

// renderMain is -render: the outputs of a finished suite from its suite.json.
func renderMain(o *suiteOptions, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(o.render)
	if err != nil {
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		return engine.ExitUsage
	}
	var sf suiteFile
	if err := json.Unmarshal(b, &sf); err != nil {
		fmt.Fprintf(stderr, "phxbench -suite: %s: %v\n", o.render, err)
		return engine.ExitUsage
	}
	// Recompute the figures from the runs' results when they are at hand,
	// so that a change in how figures are derived applies to old runs.
	runs := filepath.Join(filepath.Dir(o.render), "runs")
	for _, rec := range sf.Runs {
		if rec.Err != "" {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(runs, rec.ID+".json")); err == nil {
			var r engine.Result
			if json.Unmarshal(b, &r) == nil {
				old := rec.Figures
				rec.Figures = figuresOf(&r)
				addServerMetrics(rec.Figures, rec.Metrics)
				redoGCFigures(rec, old, &r, filepath.Join(runs, rec.ID+".phxd.log"))
			}
		}
	}
	return writeOutputs(&sf, o, stdout, stderr)
}

// The -doc markers.
const (
	docBegin = "<!-- suite:begin -->"
	docEnd   = "<!-- suite:end -->"
)

// updateDocBetween replaces the text between the begin and end marker
// lines of the file at path.
func updateDocBetween(path, begin, end, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := spliceBetween(string(b), begin, end, md)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// spliceBetween puts md between the begin and end marker lines of doc.
func spliceBetween(doc, begin, end, md string) (string, error) {
	i := strings.Index(doc, begin+"\n")
	j := strings.Index(doc, end)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %s line followed by %s", begin, end)
	}
	i += len(begin) + 1
	return doc[:i] + md + doc[j:], nil
}
