package main

import "testing"

// A warm server can return memory during a run: the end RSS below the
// start must not turn into a negative cost per socket.
func TestServerCostRSSBelowStart(t *testing.T) {
	s := []procSample{
		{at: 1e9, RSS: 100 << 20, CPU: 1},
		{at: 2e9, RSS: 90 << 20, CPU: 2},
		{at: 3e9, RSS: 80 << 20, CPU: 3},
	}
	c := &counters{OpenAtEnd: 1000}
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
