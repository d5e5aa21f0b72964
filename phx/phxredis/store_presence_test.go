package phxredis

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/presence"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// stDeadNode runs three nodes on one Redis: a (10 users on room:p and
// room:q), b (2 users on room:p) and c (1 user on room:p). Node a dies
// without leaving; b and c both look for dead nodes, and between them
// broadcast exactly one leave per presence of a, and none of the others.
// It returns how long a's presences took to leave the lists, from the
// kill and from a's last heartbeat.
func stDeadNode(t testing.TB, cfg presence.Config) (sinceKill, sinceBeat time.Duration) {
	rs := redistest.NewServer(t)
	ps := pubsub.NewMemory()
	obs := stObserve(t, ps, "room:p", "room:q")
	a := stStartNode(t, rs, ps, "a", cfg)
	b := stStartNode(t, rs, ps, "b", cfg)
	c := stStartNode(t, rs, ps, "c", cfg)
	want := map[string]string{"b0": "b", "b1": "b", "c0": "c"}
	for i := range 10 {
		stDial(t, a, fmt.Sprintf("a%d", i), "room:p", "room:q")
	}
	stDial(t, b, "b0", "room:p")
	stDial(t, b, "b1", "room:p")
	stDial(t, c, "c0", "room:p")
	stWait(t, "every presence stored", func() bool { // each node lists its own joins before they are stored
		return len(stKeys(t, b, "room:p")) == 13 && len(stKeys(t, c, "room:p")) == 13 &&
			len(stKeys(t, b, "room:q")) == 10
	})
	deadRefs := append(stRefsOf(t, b.store, "room:p", "a"), stRefsOf(t, b.store, "room:q", "a")...)
	liveRefs := append(stRefsOf(t, b.store, "room:p", "b"), stRefsOf(t, b.store, "room:p", "c")...)
	if len(deadRefs) != 20 || len(liveRefs) != 3 {
		t.Fatalf("refs: %d of a, %d of b and c; want 20 and 3", len(deadRefs), len(liveRefs))
	}

	a.kill()
	killed := time.Now()
	var lastBeat time.Time
	ns, err := b.store.Nodes(stCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.ID == "a" {
			lastBeat = n.LastSeen
		}
	}
	if lastBeat.IsZero() {
		t.Fatalf("node a has no heartbeat: %v", ns)
	}
	stWait(t, "a's presences gone from b's and c's lists", func() bool {
		for _, n := range []*stNode{b, c} {
			if !maps.Equal(stKeys(t, n, "room:p"), want) || len(stKeys(t, n, "room:q")) != 0 {
				return false
			}
		}
		return true
	})
	cleared := time.Now()
	stWait(t, "a leave for every presence of a", func() bool {
		for _, ref := range deadRefs {
			if obs.leavesOf(ref) == 0 {
				return false
			}
		}
		return true
	})
	// Both survivors keep checking: nothing more may come.
	time.Sleep(3 * max(cfg.HeartbeatInterval, 100*time.Millisecond))
	for _, ref := range deadRefs {
		if n := obs.leavesOf(ref); n != 1 {
			t.Fatalf("presence %s of the dead node left %d times, want once", ref, n)
		}
	}
	for _, ref := range liveRefs {
		if n := obs.leavesOf(ref); n != 0 {
			t.Fatalf("presence %s of a live node left %d times", ref, n)
		}
	}
	if len(obs.bad) > 0 {
		t.Fatalf("undecodable diffs: %v", obs.bad)
	}
	ns, err = c.store.Nodes(stCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.ID == "a" {
			t.Fatalf("dead node still known: %v", ns)
		}
	}
	return cleared.Sub(killed), cleared.Sub(lastBeat)
}

func TestPresenceDeadNodeOnRedis(t *testing.T) {
	sinceKill, sinceBeat := stDeadNode(t, presence.Config{HeartbeatInterval: 100 * time.Millisecond,
		NodeTimeout: 600 * time.Millisecond})
	t.Logf("dead node cleared %v after the kill, %v after its last heartbeat (timeout 600ms, beat 100ms)",
		sinceKill, sinceBeat)
}

// BenchmarkPresenceDeadNodeDefaults measures, with the default heartbeat
// interval and node timeout, how long a node killed without leaving keeps
// its presences listed (run with -benchtime=1x: one run takes ~12s).
func BenchmarkPresenceDeadNodeDefaults(b *testing.B) {
	for range b.N {
		sinceKill, sinceBeat := stDeadNode(b, presence.Config{})
		b.ReportMetric(sinceKill.Seconds(), "s_after_kill")
		b.ReportMetric(sinceBeat.Seconds(), "s_after_last_beat")
	}
}

// When Redis restarts empty, every node notices at its next heartbeat and
// announces its presences again: each user is listed once, by every node.
func TestPresenceRedisLosesData(t *testing.T) {
	rs := redistest.NewServer(t)
	ps := pubsub.NewMemory()
	cfg := presence.Config{HeartbeatInterval: 100 * time.Millisecond, NodeTimeout: 5 * time.Second}
	a := stStartNode(t, rs, ps, "a", cfg)
	b := stStartNode(t, rs, ps, "b", cfg)
	want := map[string]string{}
	for i := range 5 {
		stDial(t, a, fmt.Sprintf("a%d", i), "room:p")
		stDial(t, b, fmt.Sprintf("b%d", i), "room:p")
		want[fmt.Sprintf("a%d", i)], want[fmt.Sprintf("b%d", i)] = "a", "b"
	}
	listed := func() bool {
		return maps.Equal(stKeys(t, a, "room:p"), want) && maps.Equal(stKeys(t, b, "room:p"), want)
	}
	stWait(t, "every presence listed", listed)
	before := append(stRefsOf(t, a.store, "room:p", "a"), stRefsOf(t, a.store, "room:p", "b")...)

	rs.Stop()
	rs.Restart()
	stWait(t, "every presence announced again after the restart", listed)
	time.Sleep(5 * cfg.HeartbeatInterval) // a few more beats and sweeps change nothing
	if !listed() {
		t.Fatalf("lists changed: a %v, b %v", stKeys(t, a, "room:p"), stKeys(t, b, "room:p"))
	}
	after := append(stRefsOf(t, a.store, "room:p", "a"), stRefsOf(t, a.store, "room:p", "b")...)
	if len(after) != 10 {
		t.Fatalf("%d entries stored after the restart, want 10", len(after))
	}
	for _, ref := range after {
		for _, old := range before {
			if ref == old {
				t.Fatalf("ref %s announced again unchanged (clients dropped it with its leave)", ref)
			}
		}
	}
}

// A node killed without leaving and restarted at once under the same id
// removes what its earlier process left, long before the node timeout.
func TestPresenceNodeRestartNoGhosts(t *testing.T) {
	rs := redistest.NewServer(t)
	ps := pubsub.NewMemory()
	obs := stObserve(t, ps, "room:p")
	cfg := presence.Config{HeartbeatInterval: 100 * time.Millisecond, NodeTimeout: time.Hour}
	a := stStartNode(t, rs, ps, "a", cfg)
	b := stStartNode(t, rs, ps, "b", cfg)
	for i := range 5 {
		stDial(t, a, fmt.Sprintf("a%d", i), "room:p")
	}
	stDial(t, b, "b0", "room:p")
	stWait(t, "every presence listed", func() bool { return len(stKeys(t, b, "room:p")) == 6 })
	ghosts := stRefsOf(t, b.store, "room:p", "a")
	if len(ghosts) != 5 {
		t.Fatalf("%d refs of a, want 5", len(ghosts))
	}

	a.kill()
	a2 := stStartNode(t, rs, ps, "a", cfg)
	stWait(t, "the earlier process's presences gone", func() bool {
		return maps.Equal(stKeys(t, b, "room:p"), map[string]string{"b0": "b"})
	})
	stWait(t, "their leaves broadcast", func() bool {
		for _, ref := range ghosts {
			if obs.leavesOf(ref) == 0 {
				return false
			}
		}
		return true
	})
	stDial(t, a2, "a9", "room:p")
	want := map[string]string{"b0": "b", "a9": "a"}
	stWait(t, "the restarted node's user listed", func() bool { return maps.Equal(stKeys(t, b, "room:p"), want) })
	time.Sleep(5 * cfg.HeartbeatInterval)
	if got := stKeys(t, b, "room:p"); !maps.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	for _, ref := range ghosts {
		if n := obs.leavesOf(ref); n != 1 {
			t.Fatalf("ghost %s left %d times, want once", ref, n)
		}
	}
}
