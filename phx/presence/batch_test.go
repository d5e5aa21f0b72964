package presence

import (
	"context"
	stdjson "encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/serializer"
)

// hourWindow is a batching window that never ends by itself in a test:
// p.tickNow ends it, so every batch boundary is chosen by the test.
const hourWindow = time.Hour

// Within a window, changes merge into one diff of net changes; List shows
// the topic as it is now; joiners whose own join waits get their
// presence_state, themselves included, right after the window's diff.
func TestPresenceBatchNetChanges(t *testing.T) {
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: hourWindow})
	r := &refNames{}
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	// First change in a quiet topic: at once, and so is the state.
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}},"leaves":{}}]`)
	a.expectRef(r, `["1",null,"room:p","presence_state",{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}}]`)

	// Later joiners' joins wait in the window, and so do their states.
	users := map[string]*harness{}
	for _, u := range []string{"bob", "carol", "dave"} {
		users[u] = srv.user(t, u)
		users[u].join("room:p", "1")
		users[u].expectNone() // AfterJoin has run: tracked, state waiting
	}
	// A channel that tracks nothing gets only what was announced.
	var plain []byte
	if err := p.withTopic("room:p", func(tp *batch) error {
		sp, err := p.sharedState(tp)
		if err == nil {
			plain = sp.Payload()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := r.canon(string(plain)); got != `{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}}` {
		t.Fatalf("state of a channel that tracks nothing: %s", got)
	}
	carolCh := users["carol"].lookup("room:p")
	users["carol"].in(`["1","2","room:p","phx_leave",{}]`)    // joined and left inside the window, never shown
	<-carolCh.Done()                                          // her presence left with her (OnTerminate)
	a.in(`["1","2","room:p","set_status",{"status":"away"}]`) // update of an announced meta
	a.expect(`["1","2","room:p","phx_reply",{"response":{},"status":"ok"}]`)
	users["dave"].in(`["1","2","room:p","set_status",{"status":"x"}]`) // update of a waiting one
	users["dave"].expect(`["1","2","room:p","phx_reply",{"response":{},"status":"ok"}]`)
	// A meta tracked and untracked inside the window that nobody was
	// shown appears in no diff at all.
	ac := a.lookup("room:p")
	if err := p.Track(ac, "ghost", nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Untrack(ac, "ghost"); err != nil {
		t.Fatal(err)
	}
	a.expectNone()
	// List inside the window: what was announced (alice's first meta,
	// whose leave waits) plus every join that waits.
	st := mustList(t, p, "room:p")
	metas := func(k string) string {
		var out []string
		for _, m := range st[k].Metas {
			out = append(out, string(m))
		}
		return strings.Join(out, " ")
	}
	if len(st) != 3 || len(st["alice"].Metas) != 2 || !strings.Contains(metas("alice"), `"status":"away"`) ||
		len(st["bob"].Metas) != 1 || len(st["dave"].Metas) != 1 || !strings.Contains(metas("dave"), `"status":"x"`) {
		t.Fatalf("List inside the window: %v", st)
	}
	// Shown by that List, then gone inside the window: in both lists.
	bc := users["bob"].lookup("room:p")
	if err := p.Track(bc, "bob2", nil); err != nil {
		t.Fatal(err)
	}
	mustList(t, p, "room:p")
	if err := p.Untrack(bc, "bob2"); err != nil {
		t.Fatal(err)
	}

	encodes := p.stateEncodes.Load()
	p.tickNow("room:p")
	want := `[null,null,"room:p","presence_diff",{"joins":{` +
		`"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R2","phx_ref_prev":"R1","status":"away"}]},` +
		`"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R3"}]},` +
		`"bob2":{"metas":[{"phx_ref":"R4"}]},` +
		`"dave":{"metas":[{"online_at":1700000000000,"phx_ref":"R5","phx_ref_prev":"R6","status":"x"}]}},` +
		`"leaves":{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]},` +
		`"bob2":{"metas":[{"phx_ref":"R4"}]}}}]`
	a.expectRef(r, want)
	a.expectNone()
	if p.diffs.Load() != 2 {
		t.Fatalf("%d diffs broadcast, want 2", p.diffs.Load())
	}
	// bob and dave waited for the window: one encoding serves both, and
	// each finds itself in it; carol, gone, got nothing. The window's diff
	// has leaves, so it reaches them too (see TestPresenceStateSharedPerWindow
	// for a diff of joins only, which skips them).
	if n := p.stateEncodes.Load() - encodes; n != 1 {
		t.Fatalf("%d presence_state encodings for the window's joiners, want 1", n)
	}
	wantList := listText(t, p, r, "room:p")
	for _, u := range []string{"bob", "dave"} {
		v := newClientView(t)
		frames := users[u].drain()
		if len(frames) != 2 || !strings.Contains(frames[1], `"presence_state"`) ||
			!strings.Contains(frames[1], `"`+u+`":`) {
			t.Fatalf("%s got %q, want the diff then its state, itself included", u, frames)
		}
		for _, f := range frames {
			v.feed(f)
		}
		if got := v.text(r); got != wantList {
			t.Fatalf("%s's view %s, want %s", u, got, wantList)
		}
	}
	// A window that ends with nothing waiting makes the topic quiet: the
	// next change goes out at once.
	p.tickNow("room:p")
	if p.numTopics() != 0 {
		t.Fatal("topic batch still open after an empty window")
	}
	users["bob"].in(`["1","3","room:p","untrack",{}]`)
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R3"}]}}}]`)
}

// The joiner is always in its own presence_state, whatever the batching
// window holds: a second user joining inside a window, and a user
// rejoining a room it just left empty (its leave sent at once, or still
// waiting). Phoenix tracks, then lists; so do we.
func TestPresenceJoinerInOwnState(t *testing.T) {
	bothVersions(t, func(t *testing.T, ver serializer.Version) {
		srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: hourWindow})

		// A second user joining while the first one's window is open.
		a := srv.userV(t, ver, "alice")
		a.joinV("room:two", "1")
		a.stateOf(t, "room:two", "alice")
		b := srv.userV(t, ver, "bob")
		b.joinV("room:two", "1")
		b.expectNone() // bob's join waits in the window, and so does his state
		p.tickNow("room:two")
		st := b.stateOf(t, "room:two", "alice", "bob")
		if got := mustList(t, p, "room:two"); len(got) != 2 || got["bob"].ref(t) != st["bob"][0] {
			t.Fatalf("List %v, state %v", got, st)
		}

		// Rejoining an empty room whose leave went out at once (the topic
		// was quiet), the rejoin's track then waiting in the window.
		p.tickNow("room:two") // flush bob
		p.tickNow("room:two") // quiet
		c := srv.userV(t, ver, "carol")
		c.joinV("room:empty", "1")
		first := c.stateOf(t, "room:empty", "carol")["carol"][0]
		p.tickNow("room:empty") // nothing waits: quiet
		diffs, ch := p.diffs.Load(), c.lookup("room:empty")
		c.in(c.frame("1", "2", "room:empty", "phx_leave"))
		c.expectEvent(t, "phx_reply")
		c.expectEvent(t, "phx_close")
		<-ch.Done()
		if len(mustList(t, p, "room:empty")) != 0 || p.diffs.Load() != diffs+1 {
			t.Fatal("carol's leave was not broadcast at once")
		}
		c.joinV("room:empty", "3")
		p.tickNow("room:empty") // the leave opened a window: the rejoin's state waits for its end
		again := c.stateOf(t, "room:empty", "carol")["carol"]
		if len(again) != 1 || again[0] == first {
			t.Fatalf("rejoin state holds %v, want only the new meta (old %s)", again, first)
		}

		// Rejoining (duplicate join) while the old meta's leave waits: the
		// window's diff announces the new meta and the old one's leave,
		// and the state that follows it holds only the new meta; the
		// client ends where the server is.
		c.joinV("room:empty", "5")
		c.expectEvent(t, "phx_close") // the replaced instance
		c.expectNone()
		p.tickNow("room:empty")
		frames := c.drain()
		v := newClientViewV(t, ver)
		var latest []string
		for _, f := range frames {
			v.feed(f)
			if m, err := serializer.DecodeServer(ver, []byte(f), false); err == nil && m.Event == EventState {
				latest = (&harness{}).refsOf(t, m.Payload)["carol"]
			}
		}
		if len(latest) != 1 || latest[0] == again[0] {
			t.Fatalf("duplicate-join state holds %v, want only the newest meta (old %s)", latest, again[0])
		}
		r := &refNames{}
		if got, want := v.text(r), listText(t, p, r, "room:empty"); got != want {
			t.Fatalf("client view %s, server %s", got, want)
		}
	})
}

// Track followed by List always finds the tracked meta, in a quiet topic
// and inside a window.
func TestPresenceTrackThenList(t *testing.T) {
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: hourWindow})
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	a.settle() // the join is complete (Track refuses a join in flight)
	c := a.lookup("room:p")
	for i := range 5 {
		key := fmt.Sprintf("k%d", i)
		if err := p.Track(c, key, nil); err != nil {
			t.Fatal(err)
		}
		if _, ok := mustList(t, p, "room:p")[key]; !ok {
			t.Fatalf("%s not listed right after Track", key)
		}
		if err := p.Untrack(c, key); err != nil {
			t.Fatal(err)
		}
		if _, ok := mustList(t, p, "room:p")[key]; ok {
			t.Fatalf("%s still listed right after Untrack", key)
		}
	}
}

// A burst of 1,000 joins (and 400 leaves) over ten windows makes exactly
// one diff per window (plus the first change, sent at once), and every
// client's view, replayed as phoenix.js does, ends equal to the server's
// list.
func TestPresenceBurst(t *testing.T) {
	const n, leavers, rounds = 1000, 400, 10
	srv, p := newPresenceServer(t, longIdle, Config{DiffWindow: hourWindow})
	obs := srv.user(t, "obs")
	obs.join("room:burst", "1")
	p.tickNow("room:burst") // nothing waits: quiet
	base := p.diffs.Load()
	hs := make([]*harness, n)
	for round := range rounds {
		for i := round * n / rounds; i < (round+1)*n/rounds; i++ {
			hs[i] = srv.user(t, fmt.Sprintf("u%d", i))
			hs[i].join("room:burst", "1")
		}
		for i := round * n / rounds; i < (round+1)*n/rounds; i++ {
			hs[i].settle() // AfterJoin has tracked (and pushed the state)
		}
		for i := round * leavers / rounds; i < (round+1)*leavers/rounds; i++ {
			ch := hs[i].lookup("room:burst")
			hs[i].in(`["1","2","room:burst","phx_leave",{}]`)
			<-ch.Done()
		}
		p.tickNow("room:burst") // the window ends
	}
	if diffs := p.diffs.Load() - base; diffs != rounds+1 {
		t.Fatalf("%d presence_diff broadcasts for %d changes over %d windows, want %d",
			diffs, n+leavers, rounds, rounds+1)
	}
	if got := len(mustList(t, p, "room:burst")); got != n-leavers+1 {
		t.Fatalf("%d listed, want %d", got, n-leavers+1)
	}
	r := &refNames{}
	want := listText(t, p, r, "room:burst")
	check := func(name string, h *harness) {
		v := newClientView(t)
		for _, f := range h.drain() {
			v.feed(f)
		}
		if got := v.text(r); got != want {
			t.Fatalf("%s's view differs from the server's list: %s", name, lineDiff(got, want))
		}
	}
	check("observer", obs)
	for i := leavers; i < n; i += 37 {
		check(fmt.Sprintf("u%d", i), hs[i])
	}
}

// diffClock is a Store that records when each presence_diff of a topic
// is broadcast: Presence writes the store exactly when it broadcasts a
// diff, right before.
type diffClock struct {
	Store
	mu   sync.Mutex
	at   []time.Time
	tick chan struct{}
}

func (d *diffClock) Apply(ctx context.Context, topic string, joins, leaves []Entry) error {
	d.mu.Lock()
	d.at = append(d.at, time.Now())
	d.mu.Unlock()
	select {
	case d.tick <- struct{}{}:
	default:
	}
	return d.Store.Apply(ctx, topic, joins, leaves)
}

// With a real window, changes that keep coming make at most one diff per
// window: consecutive diffs are never closer than the window (a lower
// bound on time, the only kind a test may assert).
func TestPresenceWindowPacing(t *testing.T) {
	const window = 20 * time.Millisecond
	clock := &diffClock{Store: NewMemoryStore(), tick: make(chan struct{}, 1)}
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: window, Store: clock})
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	a.settle() // AfterJoin has tracked alice
	c := a.lookup("room:p")
	const waves, perWave = 6, 30
	for w := range waves {
		for i := range perWave {
			if err := p.Update(c, "alice", map[string]int{"n": w*perWave + i}); err != nil {
				t.Fatal(err)
			}
		}
		select { // the wave's diff
		case <-clock.tick:
		case <-time.After(60 * time.Second):
			t.Fatal("no presence_diff within 60s")
		}
	}
	clock.mu.Lock()
	at := append([]time.Time(nil), clock.at...)
	clock.mu.Unlock()
	if len(at) < waves || len(at) >= waves*perWave {
		t.Fatalf("%d diffs for %d changes", len(at), waves*perWave)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < window {
			t.Fatalf("diffs %d and %d only %v apart, window %v", i-1, i, gap, window)
		}
	}
}

// Nodes share a store and a PubSub; a node that stops heartbeating is
// expired by another, which broadcasts its leaves; the expired node, when
// it comes back, announces its presences again.
func TestPresenceNodeExpiry(t *testing.T) {
	ps, store := pubsub.NewMemory(), NewMemoryStore()
	srvA, pA := newPresenceServer(t, phx.Config{PubSub: ps}, Config{Store: store, Node: "a", DiffWindow: -1})
	srvB, pB := newPresenceServer(t, phx.Config{PubSub: ps}, Config{Store: store, Node: "b", DiffWindow: -1})
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

	// b is silent for longer than NodeTimeout (10s): a expires it.
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

// The heartbeat loop runs and expires dead nodes by itself: the ghost's
// leave reaches a member.
func TestPresenceHeartbeatLoop(t *testing.T) {
	store := NewMemoryStore()
	ctx := t.Context()
	// A dead node with one presence, last seen long ago.
	if _, err := store.Heartbeat(ctx, "dead", time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	ghost := Entry{Topic: "room:p", Key: "ghost", Ref: "GOw7vPYKRWrubwBR",
		Meta: phx.RawJSON(`{"phx_ref":"GOw7vPYKRWrubwBR"}`), Node: "dead", Owner: "dead#1"}
	if err := store.Apply(ctx, "room:p", []Entry{ghost}, nil); err != nil {
		t.Fatal(err)
	}
	srv, p := newPresenceServer(t, phx.Config{}, Config{Store: store, Node: "live",
		DiffWindow: -1, HeartbeatInterval: 10 * time.Millisecond, NodeTimeout: time.Second})
	obs := srv.user(t, "obs")
	obs.join("room:p", "1")
	const leave = `[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"ghost":{"metas":[{"phx_ref":"GOw7vPYKRWrubwBR"}]}}}]`
	for f := obs.next(); f != leave; f = obs.next() { // obs's own diff and state may come first
		if !strings.Contains(f, `"obs"`) {
			t.Fatalf("unexpected frame %s", f)
		}
	}
	if _, ok := mustList(t, p, "room:p")["ghost"]; ok {
		t.Fatal("ghost still listed")
	}
	nodes, _ := store.Nodes(ctx)
	if len(nodes) != 1 || nodes[0].ID != "live" {
		t.Fatalf("nodes %v", nodes)
	}
}

// joinV is join in the harness's serializer version.
func (h *harness) joinV(topic, jr string) {
	h.t.Helper()
	h.in(h.frame(jr, jr, topic, "phx_join"))
	m := h.nextMsg()
	if m.Kind != serializer.KindReply || m.Status != "ok" || m.Topic != topic {
		h.t.Fatalf("join %s: got %+v", topic, m)
	}
}

// frame is a client push with an empty payload in the harness's version.
func (h *harness) frame(jr, ref, topic, event string) string {
	h.t.Helper()
	out, _, err := serializer.EncodeClient(h.ver, nil, &serializer.Message{Kind: serializer.KindPush,
		JoinRef: []byte(`"` + jr + `"`), Ref: []byte(`"` + ref + `"`), Topic: topic, Event: event,
		Payload: []byte(`{}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	return string(out)
}

func (h *harness) nextMsg() serializer.Message {
	h.t.Helper()
	f := h.next()
	m, err := serializer.DecodeServer(h.ver, []byte(f), false)
	if err != nil {
		h.t.Fatalf("bad frame %s: %v", f, err)
	}
	return m
}

// expectEvent reads frames up to the next one of event (a reply for
// "phx_reply") and fails on anything but presence frames before it.
func (h *harness) expectEvent(t *testing.T, event string) serializer.Message {
	t.Helper()
	for {
		m := h.nextMsg()
		if m.Event == event || event == "phx_reply" && m.Kind == serializer.KindReply {
			return m
		}
		if m.Event != EventDiff {
			t.Fatalf("got %s %s, want %s", m.Event, m.Payload, event)
		}
	}
}

// stateOf reads frames up to topic's presence_state and checks that it
// lists exactly keys; it returns each key's phx_refs.
func (h *harness) stateOf(t *testing.T, topic string, keys ...string) map[string][]string {
	t.Helper()
	m := h.expectEvent(t, EventState)
	if m.Topic != topic {
		t.Fatalf("presence_state on %s, want %s", m.Topic, topic)
	}
	out := h.refsOf(t, m.Payload)
	if len(out) != len(keys) {
		t.Fatalf("presence_state %s, want exactly %v", m.Payload, keys)
	}
	for _, k := range keys {
		if len(out[k]) == 0 {
			t.Fatalf("presence_state %s lacks %s", m.Payload, k)
		}
	}
	return out
}

// refsOf returns each key's phx_refs in a presence_state payload.
func (*harness) refsOf(t *testing.T, payload []byte) map[string][]string {
	t.Helper()
	var st map[string]struct {
		Metas []struct {
			Ref string `json:"phx_ref"`
		} `json:"metas"`
	}
	if err := stdjson.Unmarshal(payload, &st); err != nil {
		t.Fatalf("bad presence_state %s", payload)
	}
	out := make(map[string][]string, len(st))
	for k, e := range st {
		for _, meta := range e.Metas {
			out[k] = append(out[k], meta.Ref)
		}
	}
	return out
}

func (p *Presence) numTopics() int {
	p.topicsMu.Lock()
	defer p.topicsMu.Unlock()
	return len(p.topics)
}

// lineDiff lists the space-separated items only one of got and want has.
func lineDiff(got, want string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Fields(s) {
			m[l] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var out []string
	for l := range g {
		if !w[l] {
			out = append(out, "extra "+l)
		}
	}
	for l := range w {
		if !g[l] {
			out = append(out, "missing "+l)
		}
	}
	return strings.Join(out, "; ")
}
