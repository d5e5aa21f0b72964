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

// The cluster suite (issue 11): phxbench -suite -cluster -phxd PATH
// measures phxd nodes sharing one private redis-server against the same
// load on a single node, in the same rounds:
//
//   - fanout: S subscribers spread evenly over three nodes, the publisher on
//     the first, M messages; beside it one node without Redis and one node
//     on Redis, same S and M;
//   - idle: N joined idle sockets on one node with -redis and without, RSS
//     per socket;
//   - presence: U users of a room:* topic on one node of three, an observer
//     on another; the first is killed with SIGKILL and the observer times
//     the leaves (phxd's default presence timing).
//
// Every server is started fresh for each run (a fresh redis-server too),
// and killed at the end of it; phxbench itself runs as a child process, as
// in the single-node suite, with every phxd and the redis-server sampled
// from /proc.

// clusterOptions are the -suite -cluster flags.
type clusterOptions struct {
	phxd, redis string
	dir, doc    string
	runs        int
	nodes       int
	subs, msgs  int
	smallSubs   int
	smallMsgs   int
	idle        int
	hold        time.Duration
	users       int
	only        map[string]bool
	quick       bool
	plan        bool
	render      string
}

// clusterItems are the cluster suite's parts, in order.
var clusterItems = []string{"fanout", "idle", "presence"}

// parseClusterFlags parses phxbench -suite -cluster's flags.
func parseClusterFlags(args []string, stderr io.Writer) (*clusterOptions, error) {
	o := &clusterOptions{}
	fs := flag.NewFlagSet("phxbench -suite -cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var only string
	fs.StringVar(&o.phxd, "phxd", "", "path of a built phxd binary (required; the suite builds nothing)")
	fs.StringVar(&o.redis, "redis-server", "redis-server", "redis-server binary (Debian's redis-server package)")
	fs.StringVar(&o.dir, "dir", "out/bench-cluster", "directory for every run's files and cluster.json")
	fs.StringVar(&o.doc, "doc", "", "also put the tables into this markdown file, between the lines "+clusterBegin+" and "+clusterEnd)
	fs.IntVar(&o.runs, "runs", 3, "rounds: every case runs this many times (fresh servers each run); tables show medians")
	fs.IntVar(&o.nodes, "nodes", 3, "fanout and presence: phxd nodes on the one Redis")
	fs.IntVar(&o.subs, "subs", 9000, "fanout: subscribers in all (spread evenly over the nodes)")
	fs.IntVar(&o.msgs, "msgs", 200, "fanout: messages the publisher pushes")
	fs.IntVar(&o.smallSubs, "small-subs", 30, "fanout: subscribers of the small fan-out (per-message costs)")
	fs.IntVar(&o.smallMsgs, "small-msgs", 60000, "fanout: messages of the small fan-out")
	fs.IntVar(&o.idle, "idle", 10000, "idle: joined sockets")
	fs.DurationVar(&o.hold, "hold", 5*time.Second, "idle: how long the sockets are held once all joined")
	fs.IntVar(&o.users, "users", 1000, "presence: users on the node that is killed")
	fs.StringVar(&only, "only", strings.Join(clusterItems, ","), "items to run: "+strings.Join(clusterItems, ","))
	fs.BoolVar(&o.quick, "quick", false, "smoke test: 1/10 of the sockets and users, 1 s hold, 1 round")
	fs.BoolVar(&o.plan, "plan", false, "print the runs and exit")
	fs.StringVar(&o.render, "render", "", "run nothing: write the tables (DIR/cluster.md, -doc) from a finished suite's cluster.json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.phxd == "" && !o.plan && o.render == "" {
		return nil, errors.New("-phxd PATH is required (build it first: go build -o PATH ./cmd/phxd)")
	}
	o.only = map[string]bool{}
	for s := range strings.SplitSeq(only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(clusterItems, s) {
			return nil, fmt.Errorf("-only: unknown item %q (items: %s)", s, strings.Join(clusterItems, ","))
		}
		o.only[s] = true
	}
	if o.quick {
		o.subs, o.idle, o.users, o.hold = max(o.nodes, o.subs/10), max(1, o.idle/10), max(1, o.users/10), time.Second
		o.smallMsgs = max(1, o.smallMsgs/10)
		if !flagSet(fs, "runs") {
			o.runs = 1
		}
	}
	switch {
	case o.runs < 1 || o.runs > 50:
		return nil, errors.New("-runs must be within 1..50")
	case o.nodes < 2 || o.nodes > 16:
		return nil, errors.New("-nodes must be within 2..16")
	case o.subs < o.nodes || o.smallSubs < o.nodes || o.msgs < 1 || o.smallMsgs < 1 || o.idle < 1 || o.users < 1:
		return nil, errors.New("-subs and -small-subs (at least one per node), -msgs, -small-msgs, -idle and -users must be positive")
	}
	return o, nil
}

// clusterCase is one configuration.
type clusterCase struct {
	ID    string `json:"id"`
	Item  string `json:"item"`
	Nodes int    `json:"nodes"`
	Redis bool   `json:"redis"`
	Desc  string `json:"description"`
	Small bool   `json:"small,omitempty"` // fanout: -small-subs and -small-msgs
	Token string `json:"token,omitempty"` // the -token of every client (default: one user per socket)
}

// clusterCases lists the cases of the selected items.
func clusterCases(o *clusterOptions) []clusterCase {
	var cs []clusterCase
	if o.only["fanout"] {
		cs = append(cs,
			clusterCase{ID: "fanout-single", Item: "fanout", Nodes: 1, Desc: "one phxd, no Redis"},
			clusterCase{ID: "fanout-redis1", Item: "fanout", Nodes: 1, Redis: true, Desc: "one phxd on Redis"},
			clusterCase{ID: fmt.Sprintf("fanout-redis%d", o.nodes), Item: "fanout", Nodes: o.nodes, Redis: true,
				Desc: fmt.Sprintf("%d phxd on one Redis", o.nodes)},
			clusterCase{ID: "small-single", Item: "fanout", Nodes: 1, Small: true, Desc: "one phxd, no Redis"},
			clusterCase{ID: "small-redis1", Item: "fanout", Nodes: 1, Redis: true, Small: true, Desc: "one phxd on Redis"},
			clusterCase{ID: fmt.Sprintf("small-redis%d", o.nodes), Item: "fanout", Nodes: o.nodes, Redis: true, Small: true,
				Desc: fmt.Sprintf("%d phxd on one Redis", o.nodes)})
	}
	if o.only["idle"] {
		cs = append(cs,
			clusterCase{ID: "idle-single", Item: "idle", Nodes: 1, Desc: "one phxd, no Redis; a user per socket"},
			clusterCase{ID: "idle-redis1", Item: "idle", Nodes: 1, Redis: true, Desc: "one phxd on Redis; a user per socket"},
			clusterCase{ID: "idle1u-single", Item: "idle", Nodes: 1, Token: "user:idle", Desc: "one phxd, no Redis; one user for all"},
			clusterCase{ID: "idle1u-redis1", Item: "idle", Nodes: 1, Redis: true, Token: "user:idle", Desc: "one phxd on Redis; one user for all"})
	}
	if o.only["presence"] {
		cs = append(cs, clusterCase{ID: fmt.Sprintf("presence-redis%d", o.nodes), Item: "presence", Nodes: o.nodes, Redis: true,
			Desc: fmt.Sprintf("%d phxd on one Redis; the last killed", o.nodes)})
	}
	return cs
}

// benchArgs are the phxbench flags of a fanout or idle case, without
// -url, -pid, -out.
func (c clusterCase) benchArgs(o *clusterOptions) []string {
	var a []string
	switch c.Item {
	case "fanout":
		subs, msgs := o.subs, o.msgs
		if c.Small {
			subs, msgs = o.smallSubs, o.smallMsgs
		}
		a = []string{"-scenario", "fanout", "-n", strconv.Itoa(subs), "-msgs", strconv.Itoa(msgs), "-inflight", strconv.Itoa(fanoutIn)}
	case "idle":
		a = []string{"-scenario", "idle", "-n", strconv.Itoa(o.idle), "-d", o.hold.String()}
	}
	if c.Token != "" && a != nil {
		a = append(a, "-token", c.Token)
	}
	return a
}

// clusterRun is one run of one case.
type clusterRun struct {
	ID      string               `json:"id"` // case-rN
	Case    string               `json:"case"`
	Round   int                  `json:"round"`
	Start   time.Time            `json:"start"`
	WallS   float64              `json:"wall_s"`
	Load1   float64              `json:"load1"`
	Servers []string             `json:"servers"` // each phxd's command line
	Command string               `json:"command,omitempty"`
	Exit    int                  `json:"exit"`
	Err     string               `json:"error,omitempty"`
	Figures map[string]float64   `json:"figures,omitempty"`
	Nodes   []nodeFigures        `json:"nodes,omitempty"`
	Metrics []map[string]float64 `json:"server_metrics,omitempty"` // each node's phxgo_* after the run
	Pres    *presenceResult      `json:"presence,omitempty"`
}

func (r *clusterRun) ok() bool { return r.Err == "" && r.Figures != nil }

// clusterFile is what -dir/cluster.json holds.
type clusterFile struct {
	Command string         `json:"command"`
	Machine machineInfo    `json:"machine"`
	Options map[string]any `json:"options"`
	Cases   []clusterCase  `json:"cases"`
	Runs    []*clusterRun  `json:"runs"`
}

// ClusterMain is phxbench -suite -cluster.
func clusterMain(args []string, stdout, stderr io.Writer) int {
	o, err := parseClusterFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return engine.ExitOK
		}
		fmt.Fprintln(stderr, "phxbench -suite -cluster:", err)
		return engine.ExitUsage
	}
	if o.render != "" {
		return clusterRender(o, stdout, stderr)
	}
	cases := clusterCases(o)
	if o.plan {
		for _, c := range cases {
			what := "phxbench " + shellJoin(c.benchArgs(o))
			if c.Item == "presence" {
				what = fmt.Sprintf("%d users on node %s, an observer on node a, node %s killed", o.users, nodeName(c.Nodes-1), nodeName(c.Nodes-1))
			}
			fmt.Fprintf(stdout, "%s: %s; %s\n", c.ID, c.Desc, what)
		}
		return engine.ExitOK
	}
	if st, err := os.Stat(o.phxd); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		fmt.Fprintf(stderr, "phxbench -suite -cluster: -phxd %s is not an executable file\n", o.phxd)
		return engine.ExitUsage
	}
	if _, err := exeLookPath(o.redis); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite -cluster:", errNoRedis)
		return engine.ExitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "phxbench -suite -cluster:", err)
		return engine.ExitRunError
	}
	runsDir := filepath.Join(o.dir, "runs")
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite -cluster:", err)
		return engine.ExitRunError
	}
	sys.RaiseNoFile()
	cs := newChildren()
	defer cs.killAll()
	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		for range sig {
			stop.Store(true)
			cs.killAll() // the run under way fails at once; nothing new starts
		}
	}()
	cf := &clusterFile{Command: shellJoin(append([]string{"phxbench", "-suite", "-cluster"}, args...)),
		Machine: gatherMachine(&suiteOptions{phxd: o.phxd, runs: o.runs, quick: o.quick}), Cases: cases,
		Options: map[string]any{"nodes": o.nodes, "subs": o.subs, "msgs": o.msgs, "small_subs": o.smallSubs, "small_msgs": o.smallMsgs,
			"idle": o.idle, "hold": o.hold.String(), "users": o.users}}
	total := len(cases) * o.runs
	fmt.Fprintf(stderr, "phxbench cluster suite: %d cases × %d rounds = %d runs; phxd %s (%s); load %s\n",
		len(cases), o.runs, total, o.phxd, cf.Machine.PhxdRev, cf.Machine.LoadStart)
	k := 0
	for round := 1; round <= o.runs && !stop.Load(); round++ {
		for _, c := range cases {
			if stop.Load() {
				break
			}
			k++
			rec := runClusterCase(o, cs, exe, c, round, runsDir)
			if n := cs.count(); n != 0 && !stop.Load() {
				rec.Err = cmpStr(rec.Err, fmt.Sprintf("%d processes still running after the run", n))
			}
			cf.Runs = append(cf.Runs, rec)
			fmt.Fprintf(stderr, "[%d/%d] %s  %s\n", k, total, rec.ID, clusterRunLine(c, rec))
			_ = writeJSONFile(filepath.Join(o.dir, "cluster.json"), cf)
		}
	}
	cf.Machine.finish(o.phxd)
	code := engine.ExitOK
	if err := writeJSONFile(filepath.Join(o.dir, "cluster.json"), cf); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite -cluster:", err)
		code = engine.ExitRunError
	}
	code = max(code, clusterOutputs(cf, o, stdout, stderr))
	if stop.Load() {
		code = max(code, engine.ExitFailed)
	}
	return code
}

// clusterRender is -render: the tables of a finished cluster suite.
func clusterRender(o *clusterOptions, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(o.render)
	if err == nil {
		var cf clusterFile
		if err = json.Unmarshal(b, &cf); err == nil {
			return clusterOutputs(&cf, o, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "phxbench -suite -cluster: %s: %v\n", o.render, err)
	return engine.ExitUsage
}

// clusterOutputs writes DIR/cluster.md and -doc, prints the tables, and
// returns ExitFailed when a run failed.
func clusterOutputs(cf *clusterFile, o *clusterOptions, stdout, stderr io.Writer) int {
	code := engine.ExitOK
	md := clusterMarkdown(cf)
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite -cluster:", err)
		code = engine.ExitRunError
	} else if err := os.WriteFile(filepath.Join(o.dir, "cluster.md"), []byte(md), 0o644); err != nil {
		fmt.Fprintln(stderr, "phxbench -suite -cluster:", err)
		code = engine.ExitRunError
	}
	if o.doc != "" {
		if err := updateDocBetween(o.doc, clusterBegin, clusterEnd, md); err != nil {
			fmt.Fprintln(stderr, "phxbench -suite -cluster: -doc:", err)
			code = engine.ExitRunError
		}
	}
	fmt.Fprint(stdout, md)
	for _, r := range cf.Runs {
		if !r.ok() || r.Exit != engine.ExitOK {
			code = max(code, engine.ExitFailed)
		}
	}
	return code
}

// cmpStr keeps the first non-empty string.
func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// The -doc markers of the cluster suite.
const (
	clusterBegin = "<!-- cluster:begin -->"
	clusterEnd   = "<!-- cluster:end -->"
)
