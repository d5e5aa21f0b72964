package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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

// suiteItems are the suite's parts, in order (issue 6, items 1–5).
var suiteItems = []string{"idle", "fanout", "connect", "echo", "growth"}

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
	ID       string   `json:"id"`       // e.g. idle-10000
	Kind     string   `json:"kind"`     // built-in scenario
	N        int      `json:"n"`        // sockets (fanout: subscribers)
	Items    []string `json:"items"`    // suite items it feeds
	Args     []string `json:"args"`     // phxbench flags, without url/pid/metrics/out/report
	Metrics  bool     `json:"metrics"`  // scrape go_goroutines (costs the server a little CPU)
	Baseline bool     `json:"baseline"` // fanout: -baseline
}

// Suite sizes (issue 6).
var (
	idleSizes   = []int{10000, 15000}
	fanoutSizes = []int{5000, 10000}
	growthSizes = []int{1000, 5000, 10000, 15000}
)

const (
	connectN   = 15000
	echoN      = 1000
	echoRate   = 2000
	fanoutMsgs = 200
	fanoutIn   = 100
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
				"-inflight", strconv.Itoa(fanoutIn), "-baseline"}}
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
			Args: []string{"-scenario", "connect", "-n", strconv.Itoa(sn(connectN))}}, "connect")
	}
	if o.only["echo"] {
		rate := max(1, float64(echoRate)*o.scale)
		add(suiteCase{ID: fmt.Sprintf("echo-%d", echoN), Kind: "echo", N: echoN,
			Args: []string{"-scenario", "echo", "-n", strconv.Itoa(sn(echoN)), "-rate", strconv.FormatFloat(rate, 'f', -1, 64),
				"-d", o.echoFor.String()}}, "echo")
	}
	return cs
}

// command is the phxbench command line of a case against addr; pid is the
// server's pid ("$PID" in printed commands).
func (c suiteCase) command(exe, addr, pid, out, report string) []string {
	a := append([]string{exe}, c.Args...)
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
	Checks  []Check            `json:"checks,omitempty"`
}

// ok reports whether the run produced figures.
func (r *runRecord) ok() bool { return r.Err == "" && r.Figures != nil }

// machineInfo describes where and what the suite measured.
type machineInfo struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	NProc       int       `json:"nproc"`
	CPUModel    string    `json:"cpu_model"`
	Kernel      string    `json:"kernel"`
	MemTotal    string    `json:"mem_total"`
	NoFile      uint64    `json:"nofile"`
	LoadStart   string    `json:"loadavg_start"`
	LoadEnd     string    `json:"loadavg_end"`
	PhxdPath    string    `json:"phxd"`
	PhxdSHA     string    `json:"phxd_sha256"`
	PhxdSHAEnd  string    `json:"phxd_sha256_end"`
	PhxdGo      string    `json:"phxd_go"`
	PhxdRev     string    `json:"phxd_vcs_revision"`
	PhxdDirty   string    `json:"phxd_vcs_modified"`
	PhxdVCSTime string    `json:"phxd_vcs_time"`
	GitHead     string    `json:"git_head"`
	GitDirty    int       `json:"git_dirty_files"`
	GitHeadEnd  string    `json:"git_head_end"`
	GitDirtyEnd int       `json:"git_dirty_files_end"`
	Runs        int       `json:"rounds"`
	Quick       bool      `json:"quick,omitempty"`
}

// suiteFile is what -dir/suite.json holds.
type suiteFile struct {
	Command string       `json:"command"`
	Machine machineInfo  `json:"machine"`
	Cases   []suiteCase  `json:"cases"`
	Runs    []*runRecord `json:"runs"`
}

// suiteMain is phxbench -suite.
func suiteMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseSuiteFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		return exitUsage
	}
	if o.render != "" {
		return renderMain(o, stdout, stderr)
	}
	cases := suiteCases(o)
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		return exitRunError
	}
	if o.plan {
		for _, c := range cases {
			fmt.Fprintf(stdout, "%s (%s)\n  phxd %s & PID=$!\n  %s\n", c.ID, strings.Join(c.Items, ","),
				strings.Join(serverArgs("127.0.0.1:4400"), " "),
				shellJoin(c.command("phxbench", "127.0.0.1:4400", "$PID", c.ID+".json", c.ID+".html")))
		}
		return exitOK
	}
	if st, err := os.Stat(o.phxd); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		fmt.Fprintf(stderr, "phxbench -suite: -phxd %s is not an executable file\n", o.phxd)
		return exitUsage
	}
	runsDir := filepath.Join(o.dir, "runs")
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		return exitRunError
	}
	raiseNoFile()
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
	sf.Machine.Finished = time.Now()
	sf.Machine.LoadEnd = loadavg()
	sf.Machine.PhxdSHAEnd = fileSHA(o.phxd)
	sf.Machine.GitHeadEnd, sf.Machine.GitDirtyEnd = gitState()
	code := exitOK
	if err := writeJSONFile(filepath.Join(o.dir, "suite.json"), sf); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite:", err)
		code = exitRunError
	}
	code = max(code, writeOutputs(sf, o, stdout, stderr))
	if stop.Load() {
		code = max(code, exitFailed)
	}
	return code
}

// writeOutputs renders the tables (-md, -doc) and the growth plot (-svg),
// prints the tables, and returns exitFailed when a run failed.
func writeOutputs(sf *suiteFile, o *suiteOptions, stdout, stderr io.Writer) int {
	code := exitOK
	fail := func(what string, err error) {
		fmt.Fprintf(stderr, "phxbench -suite: %s: %v\n", what, err)
		code = exitRunError
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
		if err := updateDoc(o.doc, suiteMarkdown(sf, rel(o.doc))); err != nil {
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
		if !r.ok() || r.Exit != exitOK {
			code = max(code, exitFailed)
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
		return exitUsage
	}
	var sf suiteFile
	if err := json.Unmarshal(b, &sf); err != nil {
		fmt.Fprintf(stderr, "phxbench -suite: %s: %v\n", o.render, err)
		return exitUsage
	}
	// Recompute the figures from the runs' results when they are at hand,
	// so that a change in how figures are derived applies to old runs.
	runs := filepath.Join(filepath.Dir(o.render), "runs")
	for _, rec := range sf.Runs {
		if rec.Err != "" {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(runs, rec.ID+".json")); err == nil {
			var r Result
			if json.Unmarshal(b, &r) == nil {
				rec.Figures = figuresOf(&r)
				addServerMetrics(rec.Figures, rec.Metrics)
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

// updateDoc replaces the text between the markers in the file at path.
func updateDoc(path, md string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := spliceDoc(string(b), md)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// spliceDoc puts md between the begin and end marker lines of doc.
func spliceDoc(doc, md string) (string, error) {
	i := strings.Index(doc, docBegin+"\n")
	j := strings.Index(doc, docEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("no %s line followed by %s", docBegin, docEnd)
	}
	i += len(docBegin) + 1
	return doc[:i] + md + doc[j:], nil
}

// runLine is the progress line of a finished run.
func runLine(c suiteCase, r *runRecord) string {
	if !r.ok() {
		return "ERROR " + r.Err
	}
	f := r.Figures
	var s string
	switch c.Kind {
	case "idle":
		s = fmt.Sprintf("%s/socket, %.0f goroutines, %.0f threads", bytesStr(f["rss_per_socket_b"]), f["goroutines_held"], f["threads_held"])
	case "fanout":
		s = fmt.Sprintf("%.2f µs/delivery, bare write %.2f µs, %.2f×, lost %.0f", f["cpu_per_delivery_us"], f["bare_write_us"], f["vs_bare_write"], f["lost"])
	case "connect":
		s = fmt.Sprintf("%.0f/s, %.1f µs/connect+join", f["connect_joins_per_s"], f["cpu_per_connect_join_us"])
	case "echo":
		s = fmt.Sprintf("p50 %s p99 %s, %.1f µs/echo", dur(f["echo_p50_us"]), dur(f["echo_p99_us"]), f["cpu_per_echo_us"])
	}
	st := "ok"
	if r.Exit != exitOK {
		st = fmt.Sprintf("FAIL(exit %d)", r.Exit)
	}
	return fmt.Sprintf("%s; %.1f s, load %.2f, others %.2f cores, %s", s, r.WallS, r.Load1, r.Others, st)
}

// runCase starts a fresh phxd, runs the case's phxbench command against it
// and stops the server.
func runCase(o *suiteOptions, exe string, c suiteCase, round int, port *int, dir string) *runRecord {
	rec := &runRecord{ID: fmt.Sprintf("%s-r%d", c.ID, round), Case: c.ID, Round: round, Start: time.Now()}
	base := filepath.Join(dir, rec.ID)
	busy0 := cpuBusy()
	rec.Load1 = load1()
	t0 := time.Now()
	addr, srv, err := startServer(o, port, base+".phxd.log")
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	args := c.command(exe, addr, strconv.Itoa(srv.cmd.Process.Pid), base+".json", base+".html")
	args = append(args, "-progress", "off")
	printable := c.command("phxbench", addr, "$PID", rec.ID+".json", rec.ID+".html")
	rec.Command = shellJoin(printable)
	_ = os.Remove(base + ".json")
	out, err := os.Create(base + ".txt")
	if err != nil {
		rec.Err = err.Error()
		srv.stop()
		return rec
	}
	fmt.Fprintf(out, "# phxd %s\n# %s\n", strings.Join(serverArgs(addr), " "), rec.Command)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	runErr := runBounded(cmd, caseTimeout(o))
	out.Close()
	rec.Metrics = scrapeCounters("http://" + addr + "/metrics")
	srv.stop()
	rec.WallS = time.Since(t0).Seconds()
	rec.ServerS = srv.cpuSeconds()
	if ps := cmd.ProcessState; ps != nil {
		rec.ClientS = (ps.UserTime() + ps.SystemTime()).Seconds()
		rec.Exit = ps.ExitCode()
	}
	rec.Others = (cpuBusy()-busy0)/rec.WallS - (rec.ServerS+rec.ClientS)/rec.WallS
	if runErr != nil {
		rec.Err = runErr.Error()
		return rec
	}
	if rec.Exit != exitOK && rec.Exit != exitFailed {
		rec.Err = fmt.Sprintf("phxbench exited %d (see %s.txt)", rec.Exit, base)
		return rec
	}
	b, err := os.ReadFile(base + ".json")
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		rec.Err = "result: " + err.Error()
		return rec
	}
	rec.Figures = figuresOf(&r)
	addServerMetrics(rec.Figures, rec.Metrics)
	for _, ch := range r.Checks {
		if !ch.OK {
			rec.Checks = append(rec.Checks, ch)
		}
	}
	return rec
}

// scrapeCounters reads phxd's phxgo_* counters (nil when it cannot).
func scrapeCounters(url string) map[string]float64 {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return parsePromCounters(string(b))
}

// caseTimeout bounds one phxbench run (its scenario bounds itself; this
// catches a hang).
func caseTimeout(o *suiteOptions) time.Duration {
	return 3*time.Minute + o.hold + o.echoFor
}

// runBounded runs cmd, killing it after d.
func runBounded(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil // the exit status is read from ProcessState
		}
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("killed after %v", d)
	}
}

// phxdProc is a running phxd child.
type phxdProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once Wait returned (ProcessState is set)
}

// startServer starts phxd on the next free port and waits until it serves
// /healthz.
func startServer(o *suiteOptions, port *int, logPath string) (string, *phxdProc, error) {
	var addr string
	for tries := 0; ; tries++ {
		if tries > o.portHi-o.portLo {
			return "", nil, fmt.Errorf("no free port in %d-%d", o.portLo, o.portHi)
		}
		p := *port
		if *port++; *port > o.portHi {
			*port = o.portLo
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			break
		}
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(o.phxd, serverArgs(addr)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, fmt.Errorf("start phxd: %w", err)
	}
	s := &phxdProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		if st, err := os.Stat(logPath); err == nil && st.Size() == 0 {
			_ = os.Remove(logPath)
		}
		close(s.exited)
	}()
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return "", nil, fmt.Errorf("phxd exited at start (see %s)", logPath)
		default:
		}
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return "", nil, fmt.Errorf("phxd did not answer /healthz on %s within 15 s", addr)
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (s *phxdProc) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// cpuSeconds is the exited server's user + system CPU.
func (s *phxdProc) cpuSeconds() float64 {
	if ps := s.cmd.ProcessState; ps != nil {
		return (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	return 0
}

// cpuBusy returns the machine's non-idle CPU seconds so far (/proc/stat).
func cpuBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	v, _ := parseCPUBusy(string(b), clockTicks())
	return v
}

// parseCPUBusy reads the aggregate "cpu" line of /proc/stat: everything but
// idle and iowait, in seconds (guest time is already in user).
func parseCPUBusy(stat string, hz float64) (float64, error) {
	for line := range strings.SplitSeq(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var busy int64
		for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %w", err)
			}
			if i != 3 && i != 4 { // idle, iowait; steal (other guests) counts as busy
				busy += v
			}
		}
		return float64(busy) / hz, nil
	}
	return 0, errors.New("/proc/stat: no cpu line")
}

// loadavg returns /proc/loadavg's three averages.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// load1 returns the 1-minute load average.
func load1() float64 {
	v, _ := strconv.ParseFloat(strings.Fields(loadavg() + " 0")[0], 64)
	return v
}

// gatherMachine describes the machine and the phxd binary.
func gatherMachine(o *suiteOptions) machineInfo {
	m := machineInfo{Started: time.Now(), NProc: runtime.NumCPU(), LoadStart: loadavg(), PhxdPath: o.phxd,
		PhxdSHA: fileSHA(o.phxd), Runs: o.runs, Quick: o.quick}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			m.MemTotal = bytesStr(kb * 1024)
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		m.NoFile = rl.Cur
	}
	if bi, err := buildinfo.ReadFile(o.phxd); err == nil {
		m.PhxdGo = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				m.PhxdRev = s.Value
			case "vcs.modified":
				m.PhxdDirty = s.Value
			case "vcs.time":
				m.PhxdVCSTime = s.Value
			}
		}
	}
	m.GitHead, m.GitDirty = gitState()
	return m
}

// gitState returns the short HEAD and the number of dirty files of the
// current directory's git work tree ("" when there is none).
func gitState() (string, int) {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "", 0
	}
	st, err := exec.Command("git", "status", "--short").Output()
	if err != nil {
		return strings.TrimSpace(string(head)), 0
	}
	n := 0
	for l := range strings.SplitSeq(string(st), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return strings.TrimSpace(string(head)), n
}

// fileSHA returns the first 12 hex digits of a file's SHA-256.
func fileSHA(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// writeJSONFile writes v as indented JSON.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// shellJoin quotes args for a POSIX shell where needed ($PID stays bare).
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && a != "$PID" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@", r))
		}) < 0 {
			out[i] = a
			continue
		}
		if a == "$PID" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
