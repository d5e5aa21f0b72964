package engine

import (
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
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
	wantEq(t, "RSSBelowStart", sc.RSSBelowStart, true)

	s[1].RSS = 110 << 20
	sc = serverCost(42, s, c, m, 0)
	wantEq(t, "RSSBelowStart (grown)", sc.RSSBelowStart, false)
	wantEq(t, "RSSPerSocket (grown)", sc.RSSPerSocket, float64(10<<20)/1000)
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
	wantEq(t, "expected", d.Expected, int64(4+2+2+0+4+1))
	wantEq(t, "lost", d.Lost, int64(0+0+1+0+0+1))
	wantEq(t, "published", d.Published, int64(4))
}
