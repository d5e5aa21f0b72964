// Command phxsoak attacks a phxd the way the hardening issue's holes were
// found, all at once for a few minutes while unmodified phoenix.js clients
// chat through it, and reports phxd's peak RSS, open files, threads and
// goroutines, the chat's round-trip percentiles, and whether a fresh client
// was served during each attack; it exits 1 when a bound is exceeded. With
// -attack it runs one attack alone for a short time against a fresh phxd;
// with -each it does so for every attack in turn and prints one table, the
// per-hole figures.
//
// Everything runs on loopback. phxd is killed at once, and the run ends, if
// its RSS passes the safety cap (-rss-cap, default 1 GB): the machine is
// shared. See README.md for the attacks, the flags and the table.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/phxgo/phxgo/cmd/phxsoak/attack"
)

// config is the parsed command line.
type config struct {
	soak     soakOptions
	bounds   bounds
	attack   string
	each     bool
	list     bool
	jsonPath string
	verbose  bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("phxsoak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var phxdArgs multiFlag
	var maxRSS, rssCap, maxLogRate int64
	var chatClients int
	var chatRate float64
	var node, nodeModules string
	fs.StringVar(&c.soak.phxd, "phxd", "", "`path` of a built phxd (empty: go build ./cmd/phxd into a temporary directory)")
	fs.Var(&phxdArgs, "phxd-arg", "one more `flag` for phxd (repeat for several; phxd always gets -addr 127.0.0.1:0)")
	fs.StringVar(&c.soak.apiKey, "api-key", "phxsoak-api-key", "PHXD_API_KEY given to phxd (empty: none, /api/broadcast then expects 404)")
	fs.DurationVar(&c.soak.duration, "duration", 3*time.Minute, "how long the attacks run (default 10s with -attack or -each)")
	fs.StringVar(&c.attack, "attack", "", "run only this attack (see -list) against a fresh phxd")
	fs.BoolVar(&c.each, "each", false, "run every attack alone in turn, each against a fresh phxd, and print one table")
	fs.BoolVar(&c.list, "list", false, "list the attacks and exit")
	var skip string
	fs.StringVar(&skip, "skip", "", "comma-separated attacks to leave out of the all-at-once run")
	fs.IntVar(&c.soak.sockets, "sockets", 0, "sockets per attack (0: each attack's default; at most 2000)")
	fs.Int64Var(&rssCap, "rss-cap", 1024, "safety cap in MB: phxd is killed and the run ends when its RSS passes it")
	fs.Int64Var(&maxRSS, "max-rss", 256, "bound: phxd's peak RSS in MB (0: no bound)")
	fs.IntVar(&c.bounds.maxFDs, "max-fds", 4096, "bound: phxd's peak open files (0: no bound)")
	fs.IntVar(&c.bounds.maxGoroutines, "max-goroutines", 4096, "bound: phxd's peak go_goroutines (0: no bound)")
	fs.DurationVar(&c.bounds.maxP99, "max-p99", time.Second, "bound: the chat's p99 push→reply round trip (0: no bound)")
	fs.BoolVar(&c.bounds.fresh, "fresh", true, "bound: every fresh-client probe must be served")
	fs.Int64Var(&c.bounds.maxLogLine, "max-log-line", 4096, "bound: phxd's longest log line in bytes (0: no bound)")
	fs.Int64Var(&maxLogRate, "max-log-rate", 4, "bound: phxd's log output in MB/s over the run (0: no bound)")
	fs.DurationVar(&c.soak.freshEvery, "fresh-every", 2*time.Second, "fresh-client probe period (default 1s with -attack or -each)")
	fs.IntVar(&chatClients, "chat-clients", 4, "phoenix.js chat clients (0: no chat; default 0 with -attack or -each)")
	fs.Float64Var(&chatRate, "chat-rate", 5, "new_msg pushes per second per chat client")
	fs.StringVar(&node, "node", "node", "Node.js binary for the chat")
	fs.StringVar(&nodeModules, "node-modules", "compat_test/node_modules", "`dir` with phoenix 1.8 and ws (npm ci in compat_test)")
	fs.DurationVar(&c.soak.grace, "grace", 40*time.Second, "how long phxd may drain on SIGTERM after the run")
	fs.StringVar(&c.jsonPath, "json", "", "also write the report as JSON to this `file` (- for stdout)")
	fs.BoolVar(&c.verbose, "v", false, "log each attack's end to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	c.soak.phxdArgs = phxdArgs
	c.soak.rssCap = rssCap << 20
	c.bounds.maxRSS = maxRSS << 20
	c.bounds.maxLogRate = maxLogRate << 20
	c.soak.attacks = attack.All
	if skip != "" {
		if c.attack != "" {
			return nil, errors.New("-skip is for the all-at-once run, not with -attack")
		}
		c.soak.attacks = nil
		left := map[string]bool{}
		for _, n := range strings.Split(skip, ",") {
			if _, err := attack.ByName(strings.TrimSpace(n)); err != nil {
				return nil, err
			}
			left[strings.TrimSpace(n)] = true
		}
		for _, a := range attack.All {
			if !left[a.Name] {
				c.soak.attacks = append(c.soak.attacks, a)
			}
		}
		if len(c.soak.attacks) == 0 {
			return nil, errors.New("-skip leaves no attack")
		}
	}
	if c.each && (c.attack != "" || skip != "") {
		return nil, errors.New("-each runs every attack: not with -attack or -skip")
	}
	if c.attack != "" || c.each {
		if c.attack != "" {
			a, err := attack.ByName(c.attack)
			if err != nil {
				return nil, err
			}
			c.soak.attacks = []attack.Attack{a}
		}
		if !set["duration"] {
			c.soak.duration = 10 * time.Second
		}
		if !set["chat-clients"] {
			chatClients = 0
		}
		if !set["fresh-every"] {
			c.soak.freshEvery = time.Second
		}
	}
	switch {
	case c.soak.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case c.soak.freshEvery <= 0:
		return nil, errors.New("-fresh-every must be positive")
	case rssCap <= 0:
		return nil, errors.New("-rss-cap must be positive: it protects the machine")
	case c.soak.sockets > attack.DefaultMaxSockets:
		return nil, fmt.Errorf("-sockets is at most %d", attack.DefaultMaxSockets)
	}
	if chatClients > 0 {
		c.soak.chat = &chatOptions{node: node, nodeModules: nodeModules, clients: chatClients,
			rate: chatRate, duration: c.soak.duration}
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "phxsoak:", err)
		return 2
	}
	if c.list {
		for _, a := range slices.Concat(attack.All, attack.Parts) {
			fmt.Fprintf(stdout, "%-18s hole %-3s %s\n", a.Name, a.Hole, a.What)
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "phxsoak")
	if err != nil {
		fmt.Fprintln(stderr, "phxsoak:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	c.soak.dir = dir
	if c.soak.phxd == "" {
		fmt.Fprintln(stderr, "phxsoak: building phxd")
		if c.soak.phxd, err = buildPhxd(ctx, dir); err != nil {
			fmt.Fprintln(stderr, "phxsoak:", err)
			return 2
		}
	}
	if c.verbose {
		c.soak.logf = func(format string, args ...any) { fmt.Fprintf(stderr, "phxsoak: "+format+"\n", args...) }
	}
	if c.each {
		return runEach(ctx, c, stdout, stderr)
	}
	fmt.Fprintf(stderr, "phxsoak: %d attack(s) for %v\n", len(c.soak.attacks), c.soak.duration)
	rep, err := runSoak(ctx, c.soak)
	if err != nil {
		fmt.Fprintln(stderr, "phxsoak:", err)
		return 2
	}
	judge(rep, c.bounds)
	writeMarkdown(stdout, rep)
	return finish(c, rep, rep.OK, stdout, stderr)
}

// runEach runs every attack alone in turn, each against a fresh phxd, and
// prints one row per attack.
func runEach(ctx context.Context, c *config, stdout, stderr io.Writer) int {
	var reps []*Report
	ok := true
	for _, a := range attack.All {
		o := c.soak
		o.attacks = []attack.Attack{a}
		fmt.Fprintf(stderr, "phxsoak: %s alone for %v\n", a.Name, o.duration)
		rep, err := runSoak(ctx, o)
		if err != nil {
			fmt.Fprintln(stderr, "phxsoak:", err)
			return 2
		}
		judge(rep, c.bounds)
		ok = ok && rep.OK
		reps = append(reps, rep)
		if ctx.Err() != nil {
			break
		}
	}
	writeEachMarkdown(stdout, reps, c.soak.duration)
	return finish(c, reps, ok, stdout, stderr)
}

// finish writes the JSON report when asked and returns the exit status.
func finish(c *config, v any, ok bool, stdout, stderr io.Writer) int {
	if c.jsonPath != "" {
		w := stdout
		if c.jsonPath != "-" {
			f, err := os.Create(c.jsonPath)
			if err != nil {
				fmt.Fprintln(stderr, "phxsoak:", err)
				return 2
			}
			defer f.Close()
			w = f
		}
		if err := writeJSON(w, v); err != nil {
			fmt.Fprintln(stderr, "phxsoak:", err)
			return 2
		}
	}
	if !ok {
		return 1
	}
	return 0
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
