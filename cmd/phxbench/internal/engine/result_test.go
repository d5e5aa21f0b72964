package engine

import (
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

// A warm server can return memory during a run: the end RSS below the
// start must not turn into a negative cost per socket.
func TestServerCostRSSBelowStart(t *testing.T) {
	s := []procstat.Sample{
		{At: 1e9, RSS: 100 << 20, CPU: 1},
		{At: 2e9, RSS: 90 << 20, CPU: 2},
		{At: 3e9, RSS: 80 << 20, CPU: 3},
	}
	c := &Counters{OpenAtEnd: 1000}
	m := &marks{Close: 2.5e9}
	sc := serverCost(42, s, c, m, 0)
	if sc.RSSPerSocket < 0 {
		t.Fatalf("RSSPerSocket = %v, want no negative figure", sc.RSSPerSocket)
	}
	check.Eq(t, "RSSBelowStart", sc.RSSBelowStart, true)

	s[1].RSS = 110 << 20
	sc = serverCost(42, s, c, m, 0)
	check.Eq(t, "RSSBelowStart (grown)", sc.RSSBelowStart, false)
	check.Eq(t, "RSSPerSocket (grown)", sc.RSSPerSocket, float64(10<<20)/1000)
}
func TestLossAccounting(t *testing.T) {
	pubs := map[string][]int64{"t": {30, 10, 20, 40}}
	windows := map[string][][3]int64{"t": {
		{0, 100, 4},  // all four
		{15, 35, 2},  // 20 and 30
		{15, 35, 1},  // one missing
		{50, 60, 0},  // none expected
		{0, 100, 9},  // extras do not cancel loss elsewhere
		{35, 100, 0}, // 40 lost
	}, "other": {{0, 100, 0}}}
	d := lossOf(windows, pubs)
	check.Eq(t, "expected", d.Expected, int64(4+2+2+0+4+1))
	check.Eq(t, "lost", d.Lost, int64(0+0+1+0+0+1))
	check.Eq(t, "published", d.Published, int64(4))
}

// aggregate sums the per-server counts of every worker (a worker that had
// no client on the last servers sends a shorter list), names each server,
// and keeps one ServerCost per sampled process, the first as Server.
func TestAggregateTargetsAndServers(t *testing.T) {
	sc := &scenario.Scenario{URL: "ws://127.0.0.1:1/socket/websocket,ws://127.0.0.1:2/socket/websocket,ws://127.0.0.1:3/socket/websocket",
		Duration: scenario.Duration(time.Second),
		Groups:   []scenario.Group{{Name: "g", Count: 5, MaxInflight: 1, Steps: []scenario.Step{{Join: new(string)}}}}}
	*sc.Groups[0].Steps[0].Join = "t"
	p, err := scenario.Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	ws := []*workerResult{
		{Targets: []TargetCounts{{Clients: 2, Joined: 2, Deliveries: 20}, {Clients: 1, Joined: 1, Deliveries: 10}, {Clients: 1, Deliveries: 0}}},
		{Targets: []TargetCounts{{Clients: 1, Joined: 1, Deliveries: 10, OpenAtEnd: 1}}},
	}
	s := func(cpu float64) []procstat.Sample { return []procstat.Sample{{At: 1, CPU: 0}, {At: 2e9, CPU: cpu}} }
	r := aggregate(p, RunOptions{PID: 10, MorePIDs: []int{11, 12}}, 0, ws, [][]procstat.Sample{s(1), s(2), s(3)})
	want := []TargetCounts{
		{URL: p.Targets[0].URL, Clients: 3, Joined: 3, Deliveries: 30, OpenAtEnd: 1},
		{URL: p.Targets[1].URL, Clients: 1, Joined: 1, Deliveries: 10},
		{URL: p.Targets[2].URL, Clients: 1},
	}
	if len(r.Targets) != len(want) {
		t.Fatalf("targets %+v", r.Targets)
	}
	for i := range want {
		check.Eq(t, "target", r.Targets[i], want[i])
	}
	if len(r.Servers) != 3 || r.Servers[0] != r.Server {
		t.Fatalf("servers %+v, server %+v", r.Servers, r.Server)
	}
	for i, s := range r.Servers {
		check.Eq(t, "pid", s.PID, 10+i)
		check.Eq(t, "cpu", s.CPUS, float64(i+1))
	}
}
