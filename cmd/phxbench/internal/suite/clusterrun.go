package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/promtext"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
)

// One run of a cluster case: fresh redis-server and phxd nodes, the load
// (a phxbench child, or the presence measurement), the nodes' counters,
// then every server stopped.

// nodeFigures is one phxd's share of a fan-out run.
type nodeFigures struct {
	Node        string  `json:"node"`
	Subscribers int64   `json:"subscribers"` // clients connected to it (the publisher included on the first)
	Deliveries  int64   `json:"deliveries"`  // stamped messages its clients received
	CPUS        float64 `json:"cpu_s"`       // its CPU from the first publish to the last delivery
	PerOwnUS    float64 `json:"cpu_per_own_delivery_us"`
	PerAllUS    float64 `json:"cpu_per_delivery_us"` // its CPU over every delivery of the run
	PerMsgUS    float64 `json:"cpu_per_msg_us"`      // its CPU over the messages published
	RSSEnd      int64   `json:"rss_end"`
}

// nodeName is the name of the i-th node: a, b, c, …
func nodeName(i int) string { return string(rune('a' + i)) }

// exeLookPath finds a binary.
var exeLookPath = exec.LookPath

// runClusterCase runs one case once.
func runClusterCase(o *clusterOptions, cs *children, exe string, c clusterCase, round int, dir string) *clusterRun {
	rec := &clusterRun{ID: fmt.Sprintf("%s-r%d", c.ID, round), Case: c.ID, Round: round, Start: time.Now(), Load1: load1()}
	base := filepath.Join(dir, rec.ID)
	var redis *redisProc
	var nodes []*node
	defer func() {
		for _, n := range nodes {
			if n.running() {
				n.stop(20 * time.Second)
			}
		}
		if redis != nil {
			redis.stop(5 * time.Second)
		}
		rec.WallS = time.Since(rec.Start).Seconds()
	}()
	redisURL := ""
	if c.Redis {
		var err error
		if redis, err = startRedis(cs, o.redis, dir, base+".redis.log"); err != nil {
			rec.Err = err.Error()
			return rec
		}
		redisURL = redis.url()
	}
	for i := range c.Nodes {
		n, err := startNode(cs, o.phxd, nodeName(i), redisURL, fmt.Sprintf("%s.%s.log", base, nodeName(i)))
		if err != nil {
			rec.Err = err.Error()
			return rec
		}
		nodes = append(nodes, n)
		rec.Servers = append(rec.Servers, shellJoin(append([]string{"phxd"}, n.args...)))
	}
	switch c.Item {
	case "fanout", "idle":
		runClusterBench(o, cs, exe, c, rec, base, nodes, redis)
	case "presence":
		runPresence(o, rec, nodes)
	}
	for _, n := range nodes {
		if n.running() {
			rec.Metrics = append(rec.Metrics, promtext.Scrape("http://"+n.addr+"/metrics", "phxgo_"))
		}
	}
	return rec
}

// runClusterBench runs the case's phxbench command against the nodes and
// derives the figures from its JSON result.
func runClusterBench(o *clusterOptions, cs *children, exe string, c clusterCase, rec *clusterRun, base string, nodes []*node, redis *redisProc) {
	var urls, pids, shown []string
	for _, n := range nodes {
		urls = append(urls, n.wsURL())
		pids = append(pids, strconv.Itoa(n.pid()))
		shown = append(shown, "$PID_"+strings.ToUpper(n.name))
	}
	if redis != nil {
		pids = append(pids, strconv.Itoa(redis.pid()))
		shown = append(shown, "$PID_REDIS")
	}
	args := append(c.benchArgs(o), "-url", strings.Join(urls, ","))
	rec.Command = shellJoin(append([]string{"phxbench"}, args...)) + ` -pid "` + strings.Join(shown, ",") + `"`
	args = append(args, "-pid", strings.Join(pids, ","), "-out", base+".json", "-progress", "off")
	out, err := os.Create(base + ".txt")
	if err != nil {
		rec.Err = err.Error()
		return
	}
	fmt.Fprintf(out, "# %s\n# %s\n", strings.Join(rec.Servers, "\n# "), rec.Command)
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = out, out
	bench, err := cs.startCmd("phxbench", cmd, func() { out.Close() })
	if err != nil {
		rec.Err = err.Error()
		return
	}
	bound := 3*time.Minute + o.hold
	select {
	case <-bench.exited:
	case <-time.After(bound):
		bench.kill()
		rec.Err = fmt.Sprintf("phxbench killed after %v", bound)
		return
	}
	if ps := cmd.ProcessState; ps != nil {
		rec.Exit = ps.ExitCode()
	}
	switch ps := cmd.ProcessState; {
	case ps == nil || !ps.Exited():
		rec.Err = fmt.Sprintf("phxbench ended by %v", ps)
		return
	case rec.Exit != engine.ExitOK && rec.Exit != engine.ExitFailed:
		rec.Err = fmt.Sprintf("phxbench exited %d (see %s.txt)", rec.Exit, base)
		return
	}
	b, err := os.ReadFile(base + ".json")
	if err != nil {
		rec.Err = err.Error()
		return
	}
	var r engine.Result
	if err := json.Unmarshal(b, &r); err != nil {
		rec.Err = "result: " + err.Error()
		return
	}
	rec.Figures, rec.Nodes = clusterFigures(&r, len(nodes), redis != nil)
}

// clusterFigures derives a run's figures from its result: the totals, and
// for a fan-out each node's share. nodes is the number of phxd processes,
// sampled first; Redis, when there, is the last sampled process.
func clusterFigures(r *engine.Result, nodes int, redis bool) (map[string]float64, []nodeFigures) {
	f := map[string]float64{
		"clients": float64(r.Counters.Clients), "joined": float64(r.Counters.Joined),
		"open_at_end": float64(r.Counters.OpenAtEnd), "ok": b2f(r.OK), "client_cpu_s": r.Client.CPUS,
	}
	var errs int64
	for _, v := range r.Errors {
		errs += v
	}
	f["errors"] = float64(errs)
	procs := r.Servers
	if len(procs) == 0 && r.Server != nil {
		procs = []*engine.ServerCost{r.Server}
	}
	if len(procs) < nodes {
		return f, nil
	}
	var rss, rssStart float64
	for _, s := range procs[:nodes] {
		rss += float64(s.RSSEnd)
		rssStart += float64(s.RSSStart)
	}
	f["rss_start_b"], f["rss_held_b"] = rssStart, rss
	if r.Counters.OpenAtEnd > 0 && rss >= rssStart {
		f["rss_per_socket_b"] = (rss - rssStart) / float64(r.Counters.OpenAtEnd)
	}
	if redis && len(procs) > nodes {
		f["redis_rss_b"] = float64(procs[nodes].RSSEnd)
		f["redis_cpu_s"] = procs[nodes].CPUS
	}
	d := r.Deliveries
	if d.Expected == 0 && d.Received == 0 {
		return f, nil
	}
	f["received"], f["expected"], f["lost"] = float64(d.Received), float64(d.Expected), float64(d.Lost)
	f["deliveries_per_s"] = r.Rates.DeliveriesPerS
	if s, ok := r.Latency["delivery"]; ok {
		f["delivery_p50_us"], f["delivery_p99_us"] = s.P50, s.P99
	}
	var sum float64
	var ns []nodeFigures
	for i, s := range procs[:nodes] {
		nf := nodeFigures{Node: nodeName(i), PerAllUS: s.CPUPerDeliveryUS, RSSEnd: s.RSSEnd,
			CPUS: s.CPUPerDeliveryUS * float64(d.Received) / 1e6}
		if len(r.Targets) == nodes {
			nf.Subscribers, nf.Deliveries = r.Targets[i].Clients, r.Targets[i].Deliveries
		} else if nodes == 1 {
			nf.Subscribers, nf.Deliveries = r.Counters.Clients, r.Counters.Deliveries
		}
		if nf.Deliveries > 0 {
			nf.PerOwnUS = nf.CPUS * 1e6 / float64(nf.Deliveries)
		}
		sum += s.CPUPerDeliveryUS
		ns = append(ns, nf)
	}
	f["cpu_per_delivery_us"] = sum
	f["phxd_cpu_s"] = sum * float64(d.Received) / 1e6
	f["published"] = float64(d.Published)
	if d.Published > 0 {
		f["phxd_cpu_per_msg_us"] = f["phxd_cpu_s"] * 1e6 / float64(d.Published)
		for i := range ns {
			ns[i].PerMsgUS = ns[i].CPUS * 1e6 / float64(d.Published)
		}
	}
	if redis && len(procs) > nodes {
		f["redis_cpu_per_delivery_us"] = procs[nodes].CPUPerDeliveryUS
		if d.Published > 0 {
			f["redis_cpu_per_msg_us"] = procs[nodes].CPUPerDeliveryUS * float64(d.Received) / float64(d.Published)
		}
	}
	if nodes > 1 {
		f["publisher_node_cpu_per_own_delivery_us"] = ns[0].PerOwnUS
		var cpu float64
		var del int64
		for _, n := range ns[1:] {
			cpu += n.CPUS
			del += n.Deliveries
		}
		if del > 0 {
			f["receiving_nodes_cpu_per_own_delivery_us"] = cpu * 1e6 / float64(del)
		}
	}
	return f, ns
}

// runPresence measures how long the last node's presences take to leave
// the first node's lists once the last is killed.
func runPresence(o *clusterOptions, rec *clusterRun, nodes []*node) {
	victim, observer := nodes[len(nodes)-1], nodes[0]
	users := presenceUsers("u"+strconv.Itoa(rec.Round)+"x", o.users)
	topic := "room:clear" + strconv.Itoa(rec.Round)
	res, err := measurePresenceClear(observer.wsURL(), victim.wsURL(), topic, users, victim.kill, 60*time.Second)
	if res != nil {
		res.ObserverNode, res.VictimNode = observer.name, victim.name
		res.Heartbeat = phxdFlagDefault(o.phxd, "presence-heartbeat")
		res.NodeTimeout = phxdFlagDefault(o.phxd, "presence-node-timeout")
		rec.Pres = res
	}
	if err != nil {
		rec.Err = err.Error()
		return
	}
	rec.Figures = map[string]float64{
		"users": float64(res.Users), "left": float64(res.Left), "dup_leaves": float64(res.DupLeaves),
		"others_left": float64(res.OthersLeft), "join_s": res.JoinS,
		"first_leave_s": res.FirstLeaveS, "all_left_s": res.AllLeftS,
	}
}

// flagDefault matches a flag's default in `phxd -h` output.
var flagDefault = regexp.MustCompile(`\(default ([^)]*)\)`)

// derivedDefault matches a default the help text spells out in words.
var derivedDefault = regexp.MustCompile(`the default: ([^;)]*)`)

// phxdFlagDefault is the default of phxd's -name flag as its -h prints it
// ("" when it prints none): the timing the presence item ran with.
func phxdFlagDefault(phxd, name string) string {
	out, _ := exec.Command(phxd, "-h").CombinedOutput()
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "-"+name {
			continue
		}
		help := l
		for _, next := range lines[i+1:] {
			if t := strings.TrimSpace(next); strings.HasPrefix(t, "-") || t == "" {
				break
			}
			help += " " + strings.TrimSpace(next)
		}
		if m := flagDefault.FindStringSubmatch(help); m != nil {
			return m[1]
		}
		if m := derivedDefault.FindStringSubmatch(help); m != nil {
			return "its default, " + m[1]
		}
		return "its default (see phxd -h)"
	}
	return ""
}

// clusterRunLine is the progress line of a finished run.
func clusterRunLine(c clusterCase, r *clusterRun) string {
	if !r.ok() {
		return "ERROR " + r.Err
	}
	f := r.Figures
	var s string
	switch c.Item {
	case "fanout":
		s = fmt.Sprintf("%s deliveries/s, %.2f µs phxd CPU/delivery (Redis %.3f µs), lost %.0f of %.0f",
			report.Num(f["deliveries_per_s"]), f["cpu_per_delivery_us"], f["redis_cpu_per_delivery_us"], f["lost"], f["expected"])
	case "idle":
		s = fmt.Sprintf("%s/socket over %.0f sockets", report.BytesStr(f["rss_per_socket_b"]), f["open_at_end"])
	case "presence":
		s = fmt.Sprintf("%.0f users listed in %.1f s; leaves seen %.0f: first %.2f s, all %.2f s after the kill",
			f["users"], f["join_s"], f["left"], f["first_leave_s"], f["all_left_s"])
	}
	st := "ok"
	if r.Exit != engine.ExitOK {
		st = fmt.Sprintf("FAIL(exit %d)", r.Exit)
	}
	return fmt.Sprintf("%s; %.1f s, load %.2f, %s", s, r.WallS, r.Load1, st)
}
