package compare

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

// Exit statuses of phxbench compare.
const (
	ExitSame  = 0 // no differences
	ExitDiff  = 1 // the servers differ
	ExitUsage = 2 // bad flags, scenario or rules, or a server cannot be reached
)

// BuiltinName names the built-in scenario for -scenario.
const BuiltinName = "contract"

//go:embed contract.json
var contractScenario []byte

// ContractScenario returns the built-in scenario's JSON.
func ContractScenario() []byte { return append([]byte(nil), contractScenario...) }

type options struct {
	a, b, scenario string
	rules          []string
	noDefault      bool
	quiet, maxStep time.Duration
	connect        time.Duration
	context        int
	transcripts    string
	print          bool
}

// Main is `phxbench compare`: args are the arguments after "compare".
func Main(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return ExitSame
	}
	if err != nil {
		fmt.Fprintln(stderr, "phxbench compare:", err)
		return ExitUsage
	}
	if o.print {
		stdout.Write(contractScenario)
		return ExitSame
	}
	code, err := run(o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "phxbench compare:", err)
	}
	return code
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("phxbench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: phxbench compare -a URL -b URL [-scenario FILE] [-rules FILE]...\n\nRuns one scenario against two servers step by step, normalises what may differ\nand prints the differences. Exit status: 0 equal, 1 different, 2 usage or connection error.\n\nFlags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.a, "a", "", "first server, http://host:port (a path names the socket, default /socket)")
	fs.StringVar(&o.b, "b", "", "second server, http://host:port")
	fs.StringVar(&o.scenario, "scenario", BuiltinName, "scenario file (phxbench's JSON format) or "+BuiltinName+", the built-in walk through the example app's contract")
	fs.Func("rules", "extra normalisation rule file (JSON, see README.md), applied after the default rules; repeatable", func(s string) error {
		o.rules = append(o.rules, s)
		return nil
	})
	fs.BoolVar(&o.noDefault, "no-default-rules", false, "do not apply the built-in rules (testdata/phxbench/compare/rules.json)")
	fs.DurationVar(&o.quiet, "quiet", 150*time.Millisecond, "silence that ends a step (keep it above the servers' presence batching window)")
	fs.DurationVar(&o.maxStep, "max-step", 5*time.Second, "longest wait for silence after a step")
	fs.DurationVar(&o.connect, "connect-timeout", 5*time.Second, "connect (TCP and upgrade) timeout")
	fs.IntVar(&o.context, "context", 3, "lines of context around each difference")
	fs.StringVar(&o.transcripts, "transcripts", "", "write both normalised transcripts (a.txt, b.txt) to this directory")
	fs.BoolVar(&o.print, "print-scenario", false, "print the built-in scenario and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case o.print:
		return o, nil
	case o.a == "" || o.b == "":
		return nil, errors.New("-a and -b are required (http://host:port of each server)")
	case o.quiet <= 0 || o.maxStep < o.quiet || o.connect <= 0:
		return nil, errors.New("-quiet and -connect-timeout must be positive, -max-step at least -quiet")
	case o.context < 0:
		return nil, errors.New("-context must not be negative")
	}
	return o, nil
}

// socketURL turns http://host:port[/path] into the scenario URL of the
// socket's WebSocket endpoint.
func socketURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" && u.Scheme != "ws" || u.Host == "" {
		return "", fmt.Errorf("%q: want http://host:port", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case p == "":
		p = "/socket/websocket"
	case strings.HasSuffix(p, "/websocket") || strings.HasSuffix(p, "/longpoll"):
	default:
		p += "/websocket"
	}
	return "ws://" + u.Host + p, nil
}

// program loads and compiles the scenario for one server.
func program(o *options, server string) (*scenario.Program, error) {
	data := contractScenario
	if o.scenario != BuiltinName {
		var err error
		if data, err = os.ReadFile(o.scenario); err != nil {
			return nil, err
		}
	}
	sc, err := scenario.ParseScenarioBytes(data)
	if err != nil {
		return nil, err
	}
	if sc.URL, err = socketURL(server); err != nil {
		return nil, err
	}
	p, err := scenario.Compile(sc)
	if err != nil {
		return nil, err
	}
	return p, Check(p)
}

// loadRules returns the default rules (unless turned off) and the -rules files'.
func loadRules(o *options) ([]Rule, error) {
	var rules []Rule
	if !o.noDefault {
		r, err := ParseRules(defaultRules)
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		rules = r
	}
	for _, f := range o.rules {
		r, err := LoadRules(f)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r...)
	}
	return rules, nil
}

// run compares and reports; err explains an ExitUsage.
func run(o *options, w io.Writer) (int, error) {
	pa, err := program(o, o.a)
	if err != nil {
		return ExitUsage, err
	}
	pb, err := program(o, o.b)
	if err != nil {
		return ExitUsage, err
	}
	rules, err := loadRules(o)
	if err != nil {
		return ExitUsage, err
	}
	for _, p := range []*scenario.Program{pa, pb} {
		c, err := net.DialTimeout("tcp", p.Targets[0].Host, o.connect)
		if err != nil {
			return ExitUsage, fmt.Errorf("cannot reach %s: %w", p.Targets[0].Host, err)
		}
		c.Close()
	}
	ro := Options{Quiet: o.quiet, MaxStep: o.maxStep, ConnectTimeout: o.connect}
	fmt.Fprintf(w, "phxbench compare: scenario %s (%d clients), %d rules\n", pa.Scenario.Name, pa.Total, len(rules))
	var lines [2][]string
	for i, p := range []*scenario.Program{pa, pb} {
		t, err := Run(p, ro)
		if err != nil {
			return ExitUsage, fmt.Errorf("%s: %w", p.Scenario.URL, err)
		}
		Normalise(t, rules)
		lines[i] = t.Lines()
		fmt.Fprintf(w, "%s: %s, %d steps, %d frames\n", "ab"[i:i+1], p.Scenario.URL, len(t.Steps), t.frames())
	}
	if o.transcripts != "" {
		if err := writeTranscripts(o.transcripts, lines); err != nil {
			return ExitUsage, err
		}
	}
	return report(w, o, lines[0], lines[1]), nil
}

// report prints the diff and returns the exit status.
func report(w io.Writer, o *options, a, b []string) int {
	script := Diff(a, b)
	var sb strings.Builder
	n := Unified(&sb, a, b, script, o.context)
	if n == 0 {
		fmt.Fprintln(w, "no differences")
		return ExitSame
	}
	fmt.Fprintf(w, "--- a %s\n+++ b %s\n%s", o.a, o.b, sb.String())
	steps := ChangedSteps(a, b, script)
	verb := "steps differ"
	if len(steps) == 1 {
		verb = "step differs"
	}
	fmt.Fprintf(w, "%d %s: %s\n", len(steps), verb, strings.Join(steps, "; "))
	return ExitDiff
}

func writeTranscripts(dir string, lines [2][]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, name := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(strings.Join(lines[i], "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// frames counts the transcript's frames.
func (t *Transcript) frames() int {
	n := 0
	for _, s := range t.Steps {
		for _, e := range s.Entries {
			if e.Dir != Info {
				n++
			}
		}
	}
	return n
}
