package phx

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Within a window, changes merge into one diff of net changes.
func TestPresenceBatchNetChanges(t *testing.T) {
	// A window that never ends by itself: tickNow ends it.
	srv, p := newPresenceServer(t, Config{}, PresenceConfig{DiffWindow: time.Hour})
	r := &refNames{}
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	// First change in a quiet topic: at once.
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}},"leaves":{}}]`)
	a.expectRef(r, `["1",null,"room:p","presence_state",{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}}]`)

	users := map[string]*harness{}
	for _, u := range []string{"bob", "carol", "dave"} {
		users[u] = srv.user(t, u)
		users[u].join("room:p", "1")
		// The state holds what was announced: alice only, for now.
		users[u].expectRef(r, `["1",null,"room:p","presence_state",{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}}]`)
	}
	users["carol"].in(`["1","2","room:p","phx_leave",{}]`)             // joined and left inside the window
	waitLong(t, func() bool { return p.numOwners() == 3 })             // alice, bob, dave
	a.in(`["1","2","room:p","set_status",{"status":"away"}]`)          // update of an announced meta
	users["dave"].in(`["1","2","room:p","set_status",{"status":"x"}]`) // update of a waiting one
	a.expect(`["1","2","room:p","phx_reply",{"response":{},"status":"ok"}]`)
	users["dave"].drain()
	a.expectNone()
	if got := listText(t, p, r, "room:p"); got != `alice={"online_at":1700000000000,"phx_ref":"R1"}` {
		t.Fatalf("List inside the window: %s", got)
	}

	p.tickNow("room:p")
	st := mustList(t, p, "room:p")
	bob, dave, alice := st["bob"].ref(t), st["dave"].ref(t), st["alice"].ref(t)
	got := a.next()
	// dave's phx_ref_prev is the ref of his first meta, never announced.
	davePrev := extractPrev(got, dave)
	want := fmt.Sprintf(`[null,null,"room:p","presence_diff",{"joins":{`+
		`"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"%s","phx_ref_prev":"%s","status":"away"}]},`+
		`"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"%s"}]},`+
		`"dave":{"metas":[{"online_at":1700000000000,"phx_ref":"%s","phx_ref_prev":"%s","status":"x"}]}},`+
		`"leaves":{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"%s"}]}}}]`,
		alice, refOf(r, "R1"), bob, dave, davePrev, refOf(r, "R1"))
	if got != want || len(davePrev) != 16 {
		t.Fatalf("merged diff\n got: %s\nwant: %s", got, want)
	}
	a.expectNone()
	if p.diffs.Load() != 2 {
		t.Fatalf("%d diffs broadcast, want 2", p.diffs.Load())
	}
	// A window that ends with nothing waiting makes the topic quiet: the
	// next change goes out at once.
	p.tickNow("room:p")
	p.quiet(t)
	users["bob"].in(`["1","3","room:p","untrack",{}]`)
	a.expect(fmt.Sprintf(`[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"%s"}]}}}]`, bob))
}

func refOf(r *refNames, name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for ref, n := range r.names {
		if n == name {
			return ref
		}
	}
	return "?"
}

// extractPrev returns the phx_ref_prev that follows ref in frame.
func extractPrev(frame, ref string) string {
	_, after, ok := strings.Cut(frame, `"phx_ref":"`+ref+`","phx_ref_prev":"`)
	if !ok || len(after) < 16 {
		return "?"
	}
	return after[:16]
}

// A burst of 1,000 joins (and 400 quick leaves) makes a handful of diffs,
// and every client's view, replayed as phoenix.js does, ends equal to the
// server's list.
func TestPresenceBurst(t *testing.T) {
	const n, leavers = 1000, 400
	srv, p := newPresenceServer(t, Config{}, PresenceConfig{DiffWindow: 50 * time.Millisecond})
	obs := srv.user(t, "obs")
	obs.join("room:burst", "1")
	p.quiet(t)
	base := p.diffs.Load()
	start := time.Now()
	hs := make([]*harness, n)
	for i := range hs {
		hs[i] = srv.user(t, fmt.Sprintf("u%d", i))
		hs[i].in(`["1","1","room:burst","phx_join",{}]`)
	}
	for i := 0; i < leavers; i++ {
		hs[i].settle()
		hs[i].in(`["1","2","room:burst","phx_leave",{}]`)
	}
	waitLong(t, func() bool { return len(mustList(t, p, "room:burst")) == n-leavers+1 })
	p.quiet(t)
	elapsed := time.Since(start)
	diffs := p.diffs.Load() - base
	bound := int64(elapsed/(50*time.Millisecond)) + 3
	t.Logf("%d joins + %d leaves in %v: %d presence_diff broadcasts (naive: %d)", n, leavers, elapsed, diffs, n+leavers)
	if diffs > bound || diffs >= 100 {
		t.Fatalf("%d diffs for %d changes in %v, want at most %d", diffs, n+leavers, elapsed, bound)
	}
	r := &refNames{}
	want := listText(t, p, r, "room:burst")
	check := func(name string, h *harness) {
		v := newClientView(t)
		for _, f := range h.drain() {
			v.feed(f)
		}
		if got := v.text(r); got != want {
			t.Fatalf("%s's view differs from the server's list\n got: %.300s\nwant: %.300s", name, got, want)
		}
	}
	check("observer", obs)
	for i := leavers; i < n; i += 37 {
		check(fmt.Sprintf("u%d", i), hs[i])
	}
}

// Nodes share a store and a PubSub; a node that stops heartbeating is
// expired by another, which broadcasts its leaves; the expired node, when
// it comes back, announces its presences again.
func TestPresenceNodeExpiry(t *testing.T) {
	ps, store := NewMemoryPubSub(), NewMemoryPresenceStore()
	srvA, pA := newPresenceServer(t, Config{PubSub: ps}, PresenceConfig{Store: store, Node: "a", DiffWindow: -1})
	srvB, pB := newPresenceServer(t, Config{PubSub: ps}, PresenceConfig{Store: store, Node: "b", DiffWindow: -1})
	r := &refNames{}
	obs := srvA.user(t, "alice")
	obs.join("room:p", "1")
	obs.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}},"leaves":{}}]`)
	obs.next()
	bob := srvB.user(t, "bob")
	bob.join("room:p", "1")
	bobJoin := `{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R2"}]}}`
	obs.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":`+bobJoin+`,"leaves":{}}]`)
	bob.next()
	bob.expectRef(r, `["1",null,"room:p","presence_state",{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]},`+bobJoin[1:]+`]`)
	if got := listText(t, pA, r, "room:p"); !strings.Contains(got, "bob=") {
		t.Fatalf("node a does not list bob: %s", got)
	}
	nodes, _ := store.Nodes(t.Context())
	if len(nodes) != 2 {
		t.Fatalf("nodes %v", nodes)
	}

	// b is silent for longer than NodeTimeout (30s): a expires it.
	later := time.Now().Add(31 * time.Second)
	if n := pA.ExpireDeadNodes(time.Now()); n != 0 {
		t.Fatalf("expired %d presences of live nodes", n)
	}
	if n := pA.ExpireDeadNodes(later); n != 1 {
		t.Fatalf("expired %d presences, want 1", n)
	}
	obs.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{},"leaves":`+bobJoin+`}]`)
	if got := listText(t, pA, r, "room:p"); strings.Contains(got, "bob") {
		t.Fatalf("bob still listed: %s", got)
	}
	if n := pB.ExpireDeadNodes(later.Add(time.Minute)); n != 1 {
		// b sees a as dead too (nobody heartbeats here): alice goes.
		t.Fatalf("b expired %d, want 1 (alice)", n)
	}
	obs.next()
	// b's next heartbeat finds its record gone: it announces bob again.
	pB.beat(time.Now())
	obs.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R3","phx_ref_prev":"R2"}]}},"leaves":`+bobJoin+`}]`)
	if got := listText(t, pA, r, "room:p"); got != `bob={"online_at":1700000000000,"phx_ref":"R3","phx_ref_prev":"R2"}` {
		t.Fatalf("after re-announce: %s", got)
	}
	// A graceful Close removes the node's presences and announces it.
	if err := pB.Close(); err != nil {
		t.Fatal(err)
	}
	obs.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R3","phx_ref_prev":"R2"}]}}}]`)
}

// The heartbeat loop runs and expires dead nodes by itself.
func TestPresenceHeartbeatLoop(t *testing.T) {
	store := NewMemoryPresenceStore()
	ctx := t.Context()
	// A dead node with one presence, last seen long ago.
	if _, err := store.Heartbeat(ctx, "dead", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	ghost := PresenceEntry{Topic: "room:p", Key: "ghost", Ref: "GOw7vPYKRWrubwBR",
		Meta: RawJSON(`{"phx_ref":"GOw7vPYKRWrubwBR"}`), Node: "dead", Owner: "dead#1"}
	if err := store.Apply(ctx, "room:p", []PresenceEntry{ghost}, nil); err != nil {
		t.Fatal(err)
	}
	srv, p := newPresenceServer(t, Config{}, PresenceConfig{Store: store, Node: "live",
		DiffWindow: -1, HeartbeatInterval: 10 * time.Millisecond, NodeTimeout: time.Second})
	obs := srv.user(t, "obs")
	obs.join("room:p", "1")
	waitLong(t, func() bool { _, ok := mustList(t, p, "room:p")["ghost"]; return !ok })
	nodes, _ := store.Nodes(ctx)
	if len(nodes) != 1 || nodes[0].ID != "live" || time.Since(nodes[0].LastSeen) > time.Second {
		t.Fatalf("nodes %v", nodes)
	}
}
