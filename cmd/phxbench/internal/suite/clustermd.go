package suite

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
)

// The cluster suite's tables (markdown, between the cluster markers of
// CLUSTER.md): medians over the rounds with the lowest and highest run.

// caseOf returns the first case with the given item, small flag and
// Redis setting whose node count is nodes (0: more than one), or nil.
func (cf *clusterFile) caseOf(item string, small bool, nodes int, redis bool) *clusterCase {
	for i := range cf.Cases {
		c := &cf.Cases[i]
		if c.Item == item && c.Small == small && c.Redis == redis && (nodes == 0 && c.Nodes > 1 || c.Nodes == nodes) {
			return c
		}
	}
	return nil
}

// byID returns the case id, or nil.
func (cf *clusterFile) byID(id string) *clusterCase {
	for i := range cf.Cases {
		if cf.Cases[i].ID == id {
			return &cf.Cases[i]
		}
	}
	return nil
}

// runsOf returns the successful runs of a case, in order.
func (cf *clusterFile) runsOf(id string) []*clusterRun {
	var rs []*clusterRun
	for _, r := range cf.Runs {
		if r.Case == id && r.ok() {
			rs = append(rs, r)
		}
	}
	return rs
}

// vals returns key in every successful run of case id.
func (cf *clusterFile) vals(id, key string) []float64 {
	var vs []float64
	for _, r := range cf.runsOf(id) {
		if v, ok := r.Figures[key]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// nodeVals returns a per-node figure of node i in every successful run.
func (cf *clusterFile) nodeVals(id string, i int, get func(nodeFigures) float64) []float64 {
	var vs []float64
	for _, r := range cf.runsOf(id) {
		if i < len(r.Nodes) {
			vs = append(vs, get(r.Nodes[i]))
		}
	}
	return vs
}

// roundDiffs pairs the runs of two cases by round and returns a's key
// minus b's in every round where both succeeded.
func (cf *clusterFile) roundDiffs(a, b, key string) []float64 {
	var ds []float64
	for _, ra := range cf.runsOf(a) {
		for _, rb := range cf.runsOf(b) {
			va, oka := ra.Figures[key]
			vb, okb := rb.Figures[key]
			if ra.Round == rb.Round && oka && okb {
				ds = append(ds, va-vb)
			}
		}
	}
	return ds
}

// spread formats the median of vs and, when the runs differ, their range.
func spread(vs []float64, f func(float64) string) string {
	if len(vs) == 0 {
		return "–"
	}
	s := f(median(vs))
	if lo, hi := f(slices.Min(vs)), f(slices.Max(vs)); lo != hi {
		s += fmt.Sprintf(" (%s–%s)", lo, hi)
	}
	return s
}

// anyInt reads a number stored in an any (an int, or a float64 once
// read back from JSON).
func anyInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case float64:
		return int(x)
	}
	return 0
}

func fmtUS3(v float64) string { return fmt.Sprintf("%.3f µs", v) }
func fmtS(v float64) string   { return fmt.Sprintf("%.2f s", v) }
func fmtB(v float64) string   { return report.BytesStr(v) }

// clusterMarkdown renders the tables.
func clusterMarkdown(cf *clusterFile) string {
	var b strings.Builder
	m := cf.Machine
	rev := m.PhxdRev
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if m.PhxdDirty == "true" {
		rev += " + uncommitted changes"
	}
	from := fmt.Sprintf("commit `%s`", orQ(rev))
	if rev == "" && m.GitHead != "" { // no VCS stamp in the binary (e.g. built in a git worktree)
		from = fmt.Sprintf("no VCS stamp; the work tree was at `%s` with %d dirty files", m.GitHead, m.GitDirty)
	}
	wall := "?"
	if !m.Finished.IsZero() {
		wall = m.Finished.Sub(m.Started).Round(time.Second).String()
	}
	fmt.Fprintf(&b, "Measured %s (%s) on %d CPUs (%s), %s; phxd `%s` (%s, %s); load %s at the start, %s at the end; %d rounds, fresh servers (and a fresh redis-server) every run. Command: `%s`.\n\n",
		m.Started.Format("2006-01-02 15:04 MST"), wall, m.NProc, orQ(m.CPUModel), m.Kernel, m.PhxdPath, from, orQ(m.PhxdGo),
		m.LoadStart, orQ(m.LoadEnd), m.Runs, cf.Command)
	if m.Quick {
		b.WriteString("**-quick smoke run: a tenth of the sockets, not the figures.**\n\n")
	}
	writeClusterFanout(&b, cf)
	writeClusterPresence(&b, cf)
	writeClusterIdle(&b, cf)
	writeClusterRuns(&b, cf)
	return b.String()
}

// writeClusterPresence writes the presence table.
func writeClusterPresence(b *strings.Builder, cf *clusterFile) {
	c := cf.caseOf("presence", false, 0, true)
	if c == nil {
		return
	}
	var hb, nt string
	for _, r := range cf.Runs {
		if r.Case == c.ID && r.Pres != nil {
			hb, nt = r.Pres.Heartbeat, r.Pres.NodeTimeout
		}
	}
	fmt.Fprintf(b, "#### A dead node's presences: %v users on node %s, observer on node a, node %s killed with SIGKILL\n\n",
		cf.Options["users"], nodeName(c.Nodes-1), nodeName(c.Nodes-1))
	fmt.Fprintf(b, "phxd's presence timing as run (its defaults, no -presence-* flag given): -presence-heartbeat %s, -presence-node-timeout %s.\n\n", orQ(hb), orQ(nt))
	b.WriteString("| figure | median (min–max) |\n|---|---:|\n")
	rows := []struct{ name, key string }{
		{"kill → the observer has seen every user leave", "all_left_s"},
		{"kill → first leave seen", "first_leave_s"},
		{"users seen leaving (of users)", "left"},
		{"duplicate leaves", "dup_leaves"},
		{"connect+join → the observer lists every user", "join_s"},
	}
	for _, r := range rows {
		f := fmtS
		if r.key == "left" || r.key == "dup_leaves" {
			f = fmtCount
		}
		fmt.Fprintf(b, "| %s | %s |\n", r.name, spread(cf.vals(c.ID, r.key), f))
	}
	b.WriteString("\n")
}

// writeClusterIdle writes the idle memory table: a user per socket (as
// in the single-node suite), then one user for all sockets.
func writeClusterIdle(b *strings.Builder, cf *clusterFile) {
	pairs := [][2]*clusterCase{{cf.byID("idle-single"), cf.byID("idle-redis1")}, {cf.byID("idle1u-single"), cf.byID("idle1u-redis1")}}
	if pairs[0][0] == nil || pairs[0][1] == nil {
		return
	}
	fmt.Fprintf(b, "#### Memory per idle joined socket: %v sockets, one phxd\n\n", cf.Options["idle"])
	b.WriteString("| case | sockets open | RSS before | RSS held | RSS per socket | redis-server RSS |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range pairs {
		for _, c := range p {
			if c == nil {
				continue
			}
			rr := "–"
			if c.Redis {
				rr = spread(cf.vals(c.ID, "redis_rss_b"), fmtB)
			}
			fmt.Fprintf(b, "| %s (`%s`) | %s | %s | %s | %s | %s |\n", c.Desc, c.ID, spread(cf.vals(c.ID, "open_at_end"), fmtCount),
				spread(cf.vals(c.ID, "rss_start_b"), fmtB), spread(cf.vals(c.ID, "rss_held_b"), fmtB),
				spread(cf.vals(c.ID, "rss_per_socket_b"), fmtKiB), rr)
		}
	}
	b.WriteString("\n")
	for i, p := range pairs {
		if p[0] == nil || p[1] == nil {
			continue
		}
		ms, mr := median(cf.vals(p[0].ID, "rss_per_socket_b")), median(cf.vals(p[1].ID, "rss_per_socket_b"))
		if math.IsNaN(ms) || math.IsNaN(mr) || ms <= 0 {
			continue
		}
		d := 100 * (mr/ms - 1)
		verdict := "within the 10% bound"
		if math.Abs(d) > 10 {
			verdict = "**outside the 10% bound**"
		}
		what := "With a user per socket (the suite's idle case)"
		if i == 1 {
			what = "With one user for every socket"
		}
		fmt.Fprintf(b, "%s, RSS per socket with Redis on is %+.1f%% of the single node's (medians: %s against %s): %s.\n",
			what, d, fmtKiB(mr), fmtKiB(ms), verdict)
	}
	b.WriteString("\n")
}

// writeClusterRuns lists every run.
func writeClusterRuns(b *strings.Builder, cf *clusterFile) {
	b.WriteString("<details><summary>Every run</summary>\n\n| run | load | wall | result |\n|---|---:|---:|---|\n")
	for _, r := range cf.Runs {
		res := "ok"
		switch {
		case !r.ok():
			res = "ERROR: " + r.Err
		case r.Exit != engine.ExitOK:
			res = fmt.Sprintf("phxbench exit %d (see %s.txt)", r.Exit, r.ID)
		}
		fmt.Fprintf(b, "| %s | %.2f | %.1f s | %s |\n", r.ID, r.Load1, r.WallS, strings.ReplaceAll(res, "|", "\\|"))
	}
	b.WriteString("\n</details>\n\n")
	for _, c := range cf.Cases {
		for _, r := range cf.Runs {
			if r.Case == c.ID && (r.Command != "" || len(r.Servers) > 0) {
				fmt.Fprintf(b, "- `%s`: `%s`", c.ID, strings.Join(r.Servers, "` & `"))
				if r.Command != "" {
					fmt.Fprintf(b, "; `%s`", r.Command)
				}
				b.WriteString("\n")
				break
			}
		}
	}
	b.WriteString("\n")
}
