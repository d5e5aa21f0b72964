package suite

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
)

func TestClusterFlagsAndCases(t *testing.T) {
	if _, err := parseClusterFlags(nil, io.Discard); err == nil {
		t.Error("missing -phxd accepted")
	}
	for _, bad := range [][]string{{"-phxd", "x", "-only", "nope"}, {"-phxd", "x", "-nodes", "1"}, {"-phxd", "x", "-subs", "2"}} {
		if _, err := parseClusterFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	o, err := parseClusterFlags([]string{"-phxd", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range clusterCases(o) {
		ids = append(ids, c.ID)
	}
	check.Eq(t, "cases", strings.Join(ids, " "), "fanout-single fanout-redis1 fanout-redis3 small-single small-redis1 small-redis3 idle-single idle-redis1 idle1u-single idle1u-redis1 presence-redis3")
	check.Eq(t, "small args", strings.Join(clusterCases(o)[5].benchArgs(o), " "), "-scenario fanout -n 30 -msgs 60000 -inflight 100")
	check.Eq(t, "fanout args", strings.Join(clusterCases(o)[2].benchArgs(o), " "), "-scenario fanout -n 9000 -msgs 200 -inflight 100")
	o, err = parseClusterFlags([]string{"-phxd", "x", "-quick", "-only", "idle"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "quick runs", o.runs, 1)
	check.Eq(t, "quick idle args", strings.Join(clusterCases(o)[0].benchArgs(o), " "), "-scenario idle -n 1000 -d 1s")
	check.Eq(t, "only idle", len(clusterCases(o)), 4)
	check.Eq(t, "one-user idle args", strings.Join(clusterCases(o)[3].benchArgs(o), " "), "-scenario idle -n 1000 -d 1s -token user:idle")
}

// A fan-out result over three nodes and Redis: per node, its sockets and
// deliveries from the per-server counts, its CPU in the delivery window
// from its share; the sum is the cluster's CPU per delivery.
func TestClusterFigures(t *testing.T) {
	r := &engine.Result{
		Counters:   engine.Counters{Clients: 10, Joined: 10, OpenAtEnd: 10, Deliveries: 1000},
		Deliveries: engine.Deliveries{Received: 1000, Expected: 1000},
		Rates:      engine.Rates{DeliveriesPerS: 5000},
		Latency:    map[string]hist.Summary{"delivery": {P50: 100, P99: 900}},
		Targets: []engine.TargetCounts{
			{Clients: 4, Deliveries: 400}, {Clients: 3, Deliveries: 300}, {Clients: 3, Deliveries: 300},
		},
		OK: true,
	}
	for _, c := range []struct {
		cpuPer float64
		rss    int64
	}{{2, 30 << 20}, {1, 20 << 20}, {1.5, 20 << 20}, {0.1, 8 << 20}} {
		r.Servers = append(r.Servers, &engine.ServerCost{CPUPerDeliveryUS: c.cpuPer, RSSStart: 10 << 20, RSSEnd: c.rss})
	}
	r.Server = r.Servers[0]
	f, ns := clusterFigures(r, 3, true)
	check.Eq(t, "cpu per delivery (sum of nodes)", f["cpu_per_delivery_us"], 4.5)
	check.Eq(t, "redis cpu per delivery", f["redis_cpu_per_delivery_us"], 0.1)
	check.Eq(t, "lost", f["lost"], 0.0)
	check.Eq(t, "rate", f["deliveries_per_s"], 5000.0)
	check.Eq(t, "nodes", len(ns), 3)
	check.Eq(t, "node a deliveries", ns[0].Deliveries, int64(400))
	check.Eq(t, "node a cpu", ns[0].CPUS, 2e-3)
	check.Eq(t, "node a per own", ns[0].PerOwnUS, 5.0)
	check.Eq(t, "node b per own", ns[1].PerOwnUS, 1e-3*1e6/300)
	check.Eq(t, "publisher per own", f["publisher_node_cpu_per_own_delivery_us"], 5.0)
	check.Eq(t, "receivers per own", f["receiving_nodes_cpu_per_own_delivery_us"], 2.5e-3*1e6/600)
	check.Eq(t, "rss per socket (nodes only)", f["rss_per_socket_b"], float64(40<<20)/10)
	check.Eq(t, "redis rss", f["redis_rss_b"], float64(8<<20))

	// One node without Redis: one sampled process, no per-server counts.
	r1 := &engine.Result{Counters: engine.Counters{Clients: 5, Deliveries: 50, OpenAtEnd: 5},
		Deliveries: engine.Deliveries{Received: 50, Expected: 60, Lost: 10},
		Server:     &engine.ServerCost{CPUPerDeliveryUS: 3, RSSStart: 1000, RSSEnd: 6000}}
	f, ns = clusterFigures(r1, 1, false)
	check.Eq(t, "single cpu", f["cpu_per_delivery_us"], 3.0)
	check.Eq(t, "single lost", f["lost"], 10.0)
	check.Eq(t, "single node deliveries", ns[0].Deliveries, int64(50))
	check.Eq(t, "single rss per socket", f["rss_per_socket_b"], 1000.0)
	if _, ok := f["redis_cpu_per_delivery_us"]; ok {
		t.Error("a redis figure without Redis")
	}
}

// The tables come from the runs: medians with their range, the cluster
// minus single-node difference per round, the idle verdict.
func TestClusterMarkdown(t *testing.T) {
	o, _ := parseClusterFlags([]string{"-phxd", "x", "-runs", "2"}, io.Discard)
	cf := &clusterFile{Command: "phxbench -suite -cluster", Cases: clusterCases(o),
		Options: map[string]any{"subs": 9000, "msgs": 200, "idle": 10000, "users": 1000, "small_subs": 30, "small_msgs": 2000}}
	add := func(id string, round int, f map[string]float64, nodes []nodeFigures) {
		cf.Runs = append(cf.Runs, &clusterRun{ID: id, Case: id, Round: round, Figures: f, Nodes: nodes})
	}
	for round, k := range []float64{1, 2} {
		add("fanout-single", round, map[string]float64{"cpu_per_delivery_us": k, "lost": 0, "expected": 1800200, "phxd_cpu_per_msg_us": 5000 * k}, nil)
		add("fanout-redis3", round, map[string]float64{"cpu_per_delivery_us": 3 * k, "lost": 0, "expected": 1800200, "redis_cpu_per_delivery_us": 0.01,
			"phxd_cpu_per_msg_us": 10000 * k, "published": 200},
			[]nodeFigures{{Node: "a", Subscribers: 3001, Deliveries: 600200, PerMsgUS: 4000 * k}, {Node: "b"}, {Node: "c"}})
		add("small-single", round, map[string]float64{"cpu_per_delivery_us": 2, "phxd_cpu_per_msg_us": 60}, nil)
		add("small-redis3", round, map[string]float64{"cpu_per_delivery_us": 3, "phxd_cpu_per_msg_us": 90, "published": 2000, "redis_cpu_per_msg_us": 4},
			[]nodeFigures{{Node: "a", Deliveries: 22000, PerMsgUS: 40}, {Node: "b", Deliveries: 20000, PerMsgUS: 25}, {Node: "c", Deliveries: 20000, PerMsgUS: 25}})
		add("small-redis1", round, map[string]float64{"cpu_per_delivery_us": 2.1, "phxd_cpu_per_msg_us": 65}, nil)
		add("idle1u-single", round, map[string]float64{"rss_per_socket_b": 4000}, nil)
		add("idle1u-redis1", round, map[string]float64{"rss_per_socket_b": 4100}, nil)
		add("idle-single", round, map[string]float64{"rss_per_socket_b": 4000 * k}, nil)
		add("idle-redis1", round, map[string]float64{"rss_per_socket_b": 4200 * k}, nil)
		add("presence-redis3", round, map[string]float64{"all_left_s": 10 + k, "left": 1000}, nil)
	}
	md := clusterMarkdown(cf)
	for _, want := range []string{
		"| one phxd, no Redis (`fanout-single`) |",
		"1.50 µs (1.00 µs–2.00 µs)",                                                                     // single-node median and range
		"**3.00 µs (2.00 µs–4.00 µs)**",                                                                 // per-round differences: 2 and 4
		"that is 7.50 ms (5.00 ms–10.00 ms) per published message",                                      // 5000 and 10000 µs
		"| 3001 | 600200 |",                                                                             // node a
		"| 25.0 µs | 5.0 µs |", "| 40.0 µs | 18.0 µs |", "small fan-out, 30 subscribers, 2000 messages", // small, node b: 25 per message − 2 × 10 deliveries per message
		"90.0 µs in all against 60.0 µs",                                            //
		"(30.0 µs more",                                                             //
		"Redis spends 4.0 µs.", "spends 5.0 µs more per message than without Redis", //
		"With one user for every socket, RSS per socket with Redis on is +2.5%",
		"| a (publisher) | 3001 |",             //
		"+5.0% of the single node's",           // 4200/4000
		"within the 10% bound",                 //
		"| 11.50 s (11.00 s–12.00 s) |",        // presence clear
		"0 of 1800200",                         //
		"| kill → the observer has seen every", //
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestUpdateDocBetween(t *testing.T) {
	p := filepath.Join(t.TempDir(), "doc.md")
	os.WriteFile(p, []byte("a\n"+clusterBegin+"\nold\n"+clusterEnd+"\nb\n"), 0o644)
	if err := updateDocBetween(p, clusterBegin, clusterEnd, "new\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	check.Eq(t, "doc", string(b), "a\n"+clusterBegin+"\nnew\n"+clusterEnd+"\nb\n")
	os.WriteFile(p, []byte("no markers\n"), 0o644)
	if updateDocBetween(p, clusterBegin, clusterEnd, "x") == nil {
		t.Error("a file without markers accepted")
	}
}

// killAll kills every running child, and nothing starts after it.
func TestChildrenKillAll(t *testing.T) {
	cs := newChildren()
	dir := t.TempDir()
	var kids []*child
	for i := range 3 {
		c, err := cs.start("sleep", filepath.Join(dir, "log"+string(rune('0'+i))), []string{"sleep", "60"})
		if err != nil {
			t.Fatal(err)
		}
		kids = append(kids, c)
	}
	check.Eq(t, "running", cs.count(), 3)
	kids[0].stop(time.Second) // SIGTERM ends sleep
	check.Eq(t, "after one stop", cs.count(), 2)
	cs.killAll()
	check.Eq(t, "after killAll", cs.count(), 0)
	for _, c := range kids {
		if c.running() || syscall.Kill(c.pid(), 0) == nil {
			t.Errorf("pid %d still running", c.pid())
		}
	}
	if _, err := cs.start("sleep", filepath.Join(dir, "late"), []string{"sleep", "60"}); err == nil {
		t.Error("a child started after killAll")
	}
}

// The suite's own redis-server launcher: a private server on a free port
// that answers PING, gone once killed. It needs Debian's redis-server, as
// the cluster suite does.
func TestStartRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("%v (this test needs it, like make bench-cluster)", errNoRedis)
	}
	cs := newChildren()
	defer cs.killAll()
	dir := t.TempDir()
	r, err := startRedis(cs, "redis-server", dir, filepath.Join(dir, "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := redisPing(r.addr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.url(), "redis://127.0.0.1:") || !strings.HasSuffix(r.url(), "/0") {
		t.Errorf("url %s", r.url())
	}
	r.stop(5 * time.Second)
	if redisPing(r.addr) == nil {
		t.Error("redis-server still answers after stop")
	}
	if _, err := startRedis(cs, "no-such-redis-server", dir, filepath.Join(dir, "x.log")); err != errNoRedis {
		t.Errorf("missing binary: %v", err)
	}
}

func TestPhxdFlagDefault(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "fake-phxd")
	script := "#!/bin/sh\ncat >&2 <<'EOF'\n  -presence-heartbeat duration\n    \thow often (default 2s)\n" +
		"  -presence-node-timeout duration\n    \ta node silent for this long (0, the default: five -presence-heartbeat intervals; longer)\n" +
		"  -x string\n    \tother\nEOF\nexit 2\n"
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "heartbeat", phxdFlagDefault(exe, "presence-heartbeat"), "2s")
	check.Eq(t, "node timeout", phxdFlagDefault(exe, "presence-node-timeout"), "its default, five -presence-heartbeat intervals")
	check.Eq(t, "absent", phxdFlagDefault(exe, "nope"), "")
}

// -render rewrites the tables from a finished suite's cluster.json.
func TestClusterRender(t *testing.T) {
	dir := t.TempDir()
	o, _ := parseClusterFlags([]string{"-phxd", "x"}, io.Discard)
	cf := &clusterFile{Cases: clusterCases(o), Options: map[string]any{"users": 10, "idle": 10},
		Runs: []*clusterRun{{ID: "idle-single-r1", Case: "idle-single", Round: 1, Figures: map[string]float64{"rss_per_socket_b": 1000}},
			{ID: "idle-redis1-r1", Case: "idle-redis1", Round: 1, Figures: map[string]float64{"rss_per_socket_b": 1200}}}}
	if err := writeJSONFile(filepath.Join(dir, "cluster.json"), cf); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "doc.md")
	os.WriteFile(doc, []byte(clusterBegin+"\n"+clusterEnd+"\n"), 0o644)
	var out strings.Builder
	code := clusterMain([]string{"-render", filepath.Join(dir, "cluster.json"), "-dir", dir, "-doc", doc}, &out, io.Discard)
	check.Eq(t, "exit", code, engine.ExitOK)
	b, _ := os.ReadFile(doc)
	if !strings.Contains(string(b), "+20.0% of the single node's") || !strings.Contains(string(b), "**outside the 10% bound**") {
		t.Errorf("doc:\n%s", b)
	}
}
