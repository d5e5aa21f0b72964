// Command phxbench is a scripted load generator for Phoenix Channels
// servers (phxd, or an Elixir Phoenix app). It speaks only the wire
// protocol: WebSocket (gobwas/ws framing), V1 and V2 serializers, text and
// binary frames. One process drives tens of thousands of sockets from a
// single epoll loop; -procs spreads them over worker processes.
//
// This package only parses flags and wires the internal packages together:
// scenario (the script), engine (the run), baseline, report (summary, HTML,
// progress) and suite. See README.md for flags, the scenario format, how to
// read results and where the code is.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/baseline"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/compare"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/floor"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/promtext"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/suite"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	scenario       string
	b              scenario.BuiltinOptions
	duration       time.Duration
	procs          int
	src            string
	pids           []int // -pid: the first is the server, the others are sampled too
	metrics        string
	sample         time.Duration
	out, report    string
	baseline       bool
	baselineRounds int
	floor          bool
	floorD         time.Duration
	progress       string
	step           time.Duration
	printScenario  bool
	cpuProfile     string
	transport      string
	compress       bool
}

// parseFlags parses and checks the command line.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("phxbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "", "scenario file (JSON) or built-in: "+strings.Join(scenario.BuiltinNames, ", ")+", baseline")
	fs.StringVar(&o.b.URL, "url", "", "server URL, ws:// or http:// (a path ending in /websocket or /longpoll is switched to the transport's), overrides the scenario's (built-ins: ws://127.0.0.1:4000/socket/websocket)")
	fs.StringVar(&o.transport, "transport", "", "transport, overrides the scenario's: websocket or longpoll (longpoll: a goroutine pair per client, a few thousand clients per process at most)")
	fs.BoolVar(&o.compress, "compress", false, "WebSocket clients offer permessage-deflate as browsers do and inflate what the server compresses (their own frames go uncompressed); the result says whether the server agreed")
	fs.StringVar(&o.b.Vsn, "vsn", "", "serializer vsn, overrides the scenario's: 2.0.0 or 1.0.0")
	fs.IntVar(&o.b.N, "n", 1000, "built-ins: sockets (fanout: subscribers; baseline: sockets written to)")
	fs.Float64Var(&o.b.Rate, "rate", 0, "echo: pushes per second over all sockets (default 2000); connect: connects per second (0 = unlimited)")
	fs.Float64Var(&o.b.Ramp, "ramp", 5000, "built-ins: connects per second while sockets ramp up (0 = unlimited)")
	fs.DurationVar(&o.b.D, "d", 10*time.Second, "echo: push duration; idle: hold time after all joined")
	fs.IntVar(&o.b.Msgs, "msgs", 200, "fanout: messages the publisher pushes")
	fs.IntVar(&o.b.Inflight, "inflight", 100, "fanout: publisher pushes in flight")
	fs.IntVar(&o.b.Size, "size", 0, "built-ins: extra payload body bytes")
	fs.BoolVar(&o.b.Binary, "binary", false, "echo: push binary payloads (V2 binary frames)")
	fs.StringVar(&o.b.Topic, "topic", "", "built-ins: topic (default bench:<scenario>)")
	fs.StringVar(&o.b.Token, "token", "user:b{{id}}", "built-ins: the token connect param")
	fs.DurationVar(&o.duration, "duration", 0, "override the scenario's hard time bound")
	fs.IntVar(&o.procs, "procs", 1, "worker processes to spread the sockets over")
	fs.StringVar(&o.src, "src", "auto", "source IPv4 addresses: auto ("+sys.DefaultSrc+" for loopback targets), none, a, a-b, or a list")
	var pids string
	fs.StringVar(&pids, "pid", "", "server process to sample from /proc (RSS, CPU, threads); a comma list samples several (the nodes of a cluster, Redis), the first with -metrics")
	fs.StringVar(&o.metrics, "metrics", "", "with -pid: Prometheus URL to read go_goroutines from")
	fs.DurationVar(&o.sample, "sample", 200*time.Millisecond, "with -pid: sampling interval")
	fs.StringVar(&o.out, "out", "", "write the JSON result to this file")
	fs.StringVar(&o.report, "report", "", "write a self-contained HTML report to this file")
	fs.BoolVar(&o.baseline, "baseline", false, "after the run, measure a bare write(2) of the same frame to as many sockets as were open (connect, with -metrics: the bytes the clients received, in as many write(2) calls as the server made)")
	fs.IntVar(&o.baselineRounds, "baseline-rounds", 20, "baseline: writes per socket")
	fs.BoolVar(&o.floor, "floor", false, "echo and connect built-ins: after the run, measure the path's syscall floor (a bare read/write server) under the same arrival pattern and sizes")
	fs.DurationVar(&o.floorD, "floor-d", 5*time.Second, "-floor with echo: how long the floor's requests are sent (at most -d)")
	fs.StringVar(&o.progress, "progress", "auto", "live progress line: auto (when stderr is a terminal), on, off")
	fs.DurationVar(&o.step, "step", 250*time.Millisecond, "time resolution of the timeline (latency and rates over time)")
	fs.BoolVar(&o.printScenario, "print-scenario", false, "print the resolved scenario as JSON and exit")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of phxbench itself (this process) to this file")
	fs.Bool("suite", false, "run the performance suite against a built phxd instead (phxbench -suite -phxd PATH; -suite -h lists its flags; see BENCHMARKS.md)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	if o.pids, err = parsePIDs(pids); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case o.scenario == "":
		return nil, fmt.Errorf("-scenario is required (a JSON file or one of %s, baseline)", strings.Join(scenario.BuiltinNames, ", "))
	case o.procs < 1 || o.procs > 64:
		return nil, fmt.Errorf("-procs must be within 1..64")
	case o.b.N < 1:
		return nil, fmt.Errorf("-n must be at least 1")
	case o.transport != "" && o.transport != "websocket" && o.transport != "longpoll":
		return nil, fmt.Errorf("-transport must be websocket or longpoll")
	case o.progress != "auto" && o.progress != "on" && o.progress != "off":
		return nil, fmt.Errorf("-progress must be auto, on or off")
	}
	return o, nil
}

// parsePIDs parses -pid: empty, a pid, or a comma list of pids.
func parsePIDs(s string) ([]int, error) {
	if s == "" || s == "0" {
		return nil, nil
	}
	var pids []int
	for f := range strings.SplitSeq(s, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pid: want a pid or a comma list of pids, got %q", s)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// run is main without os.Exit: it dispatches the -worker and -sink child
// modes, then runs a scenario and returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == "-worker" {
		return engine.WorkerMain(stdin, stdout)
	}
	if len(args) == 1 && args[0] == "-sink" {
		return baseline.SinkMain(stdin, stdout)
	}
	if len(args) > 0 && args[0] == "-floor-server" {
		return floor.ServerMain(args[1:], stdin, stdout)
	}
	if len(args) > 0 && args[0] == "compare" {
		return compare.Main(args[1:], stdout, stderr)
	}
	if i := slices.IndexFunc(args, func(a string) bool { return a == "-suite" || a == "--suite" }); i >= 0 {
		return suite.Main(slices.Delete(slices.Clone(args), i, i+1), stdout, stderr)
	}
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return engine.ExitOK
		}
		fmt.Fprintln(stderr, "phxbench:", err)
		return engine.ExitUsage
	}
	sys.RaiseNoFile()
	if o.scenario == "baseline" {
		return runBaselineOnly(o, stdout, stderr)
	}
	p, err := resolve(o)
	if err != nil {
		fmt.Fprintln(stderr, "phxbench:", err)
		return engine.ExitUsage
	}
	if o.printScenario {
		b, _ := json.MarshalIndent(p.Scenario, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return engine.ExitOK
	}
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "phxbench:", err)
			return engine.ExitUsage
		}
		defer stop()
	}
	return execute(o, p, stdout, stderr)
}

// startCPUProfile profiles this process until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// resolve loads the scenario (file or built-in), applies flag overrides and
// compiles it.
func resolve(o *options) (*scenario.Program, error) {
	b := o.b
	if b.URL == "" {
		b.URL = "ws://127.0.0.1:4000/socket/websocket"
	}
	if b.Vsn == "" {
		b.Vsn = "2.0.0"
	}
	if b.Rate == 0 && o.scenario == "echo" {
		b.Rate = 2000
	}
	sc, ok, err := scenario.Builtin(o.scenario, b)
	if !ok {
		sc, err = scenario.LoadScenario(o.scenario)
	}
	if err != nil {
		return nil, err
	}
	if o.b.URL != "" {
		sc.URL = o.b.URL
	}
	if o.b.Vsn != "" {
		sc.Vsn = o.b.Vsn
		for i := range sc.Groups {
			sc.Groups[i].Vsn = ""
		}
	}
	if o.transport != "" {
		sc.Transport = o.transport
		for i := range sc.Groups {
			sc.Groups[i].Transport = ""
		}
	}
	if o.compress {
		sc.Compress = true
	}
	if o.duration > 0 {
		sc.Duration = scenario.Duration(o.duration)
	}
	p, err := scenario.Compile(sc)
	if err != nil {
		return nil, err
	}
	if o.baseline && p.HasLongPoll() {
		return nil, fmt.Errorf("-baseline measures WebSocket writes; it does not apply to longpoll clients")
	}
	return p, sys.CheckNoFile(p.FDsNeeded()/o.procs + 1)
}

// sources resolves -src for a target.
func sources(o *options, loopback bool) ([][4]byte, error) {
	s := o.src
	if s == "auto" {
		s = "none"
		if loopback {
			s = sys.DefaultSrc
		}
	}
	return sys.ParseSrc(s)
}

// execute runs the program and reports.
func execute(o *options, p *scenario.Program, stdout, stderr io.Writer) int {
	src, err := sources(o, p.Loopback)
	if err != nil {
		fmt.Fprintln(stderr, "phxbench:", err)
		return engine.ExitUsage
	}
	ro := engine.RunOptions{Procs: o.procs, Src: src, Sample: o.sample, Metrics: o.metrics, Capture: o.baseline, Step: o.step}
	if len(o.pids) > 0 {
		ro.PID, ro.MorePIDs = o.pids[0], o.pids[1:]
	}
	if o.progress == "on" || o.progress == "auto" && sys.IsTTY(os.Stderr.Fd()) {
		ro.Progress = report.NewProgress(stderr, p)
	}
	var before map[string]float64 // the server's counters, so that -baseline counts this run only
	if o.baseline {
		before = promtext.Scrape(o.metrics, "phxgo_")
	}
	r, err := engine.Run(p, ro)
	if err != nil {
		fmt.Fprintln(stderr, "phxbench:", err)
		return engine.ExitRunError
	}
	if o.baseline {
		if err := addBaseline(r, o, src, p, before); err != nil {
			fmt.Fprintln(stderr, "phxbench: baseline:", err)
		}
	}
	if o.floor {
		if err := addFloor(r, o, src, p.Scenario.URL); err != nil {
			fmt.Fprintln(stderr, "phxbench: floor:", err)
		}
	}
	r.Check(p.Scenario.Expect)
	return writeResults(r, o, stdout, stderr)
}

// addBaseline measures the bare write for the run's frame and socket count.
// With connect, it is the bytes floor (addBytesFloor).
// before holds the server's counters from before the run (-metrics).
func addBaseline(r *engine.Result, o *options, src [][4]byte, p *scenario.Program, before map[string]float64) error {
	if o.scenario == "connect" {
		return addBytesFloor(r, o, src, before)
	}
	frame := r.Frame
	if frame == nil {
		frame = baseline.SyntheticFrame(o.b.TopicOr("bench:fanout"), o.b.Size)
	}
	n := int(max(r.Counters.OpenAtEnd, 1))
	b, err := baseline.Measure(n, o.baselineRounds, frame, framesPerWritev(o.metrics, before), src)
	if err != nil {
		return err
	}
	r.Baseline = b
	if r.Server != nil && r.Server.CPUPerDeliveryUS > 0 && b.CPUPerWriteUS > 0 {
		r.Server.VsBareWrite = r.Server.CPUPerDeliveryUS / b.CPUPerWriteUS
	}
	return nil
}

// runBaselineOnly is -scenario baseline: the bare write alone.
func runBaselineOnly(o *options, stdout, stderr io.Writer) int {
	src, err := sources(o, true)
	if err != nil {
		fmt.Fprintln(stderr, "phxbench:", err)
		return engine.ExitUsage
	}
	t0 := time.Now()
	b, err := baseline.Measure(o.b.N, o.baselineRounds, baseline.SyntheticFrame(o.b.TopicOr("bench:fanout"), o.b.Size), 0, src)
	if err != nil {
		fmt.Fprintln(stderr, "phxbench: baseline:", err)
		return engine.ExitRunError
	}
	r := &engine.Result{Scenario: "baseline", URL: "-", Vsn: "-", Procs: 1, Started: t0, Baseline: b,
		ElapsedS: time.Since(t0).Seconds(), Errors: map[string]int64{}, Latency: map[string]hist.Summary{}, OK: true}
	return writeResults(r, o, stdout, stderr)
}

// writeResults prints the summary and writes -out and -report.
func writeResults(r *engine.Result, o *options, stdout, stderr io.Writer) int {
	report.WriteSummary(stdout, r)
	code := engine.ExitOK
	if !r.OK {
		code = engine.ExitFailed
	}
	if o.out != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err == nil {
			err = os.WriteFile(o.out, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "phxbench: -out:", err)
			code = engine.ExitRunError
		}
	}
	if o.report != "" {
		if err := os.WriteFile(o.report, []byte(report.HTML(r)), 0o644); err != nil {
			fmt.Fprintln(stderr, "phxbench: -report:", err)
			code = engine.ExitRunError
		}
	}
	return code
}
