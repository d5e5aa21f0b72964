package presence

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
)

const (
	aliceMeta1 = `{"online_at":1700000000000,"phx_ref":"R1"}`
	bobMeta    = `{"online_at":1700000000000,"phx_ref":"R2"}`
)

// Track, state, update, leave with batching off: exact frames.
func TestPresenceTrackUpdateLeave(t *testing.T) {
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: -1})
	r := &refNames{}
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	// As in the Phoenix transcript: the joiner's own diff, then its state.
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"alice":{"metas":[`+aliceMeta1+`]}},"leaves":{}}]`)
	a.expectRef(r, `["1",null,"room:p","presence_state",{"alice":{"metas":[`+aliceMeta1+`]}}]`)

	b := srv.user(t, "bob")
	b.join("room:p", "7")
	bobDiff := `[null,null,"room:p","presence_diff",{"joins":{"bob":{"metas":[` + bobMeta + `]}},"leaves":{}}]`
	b.expectRef(r, bobDiff)
	b.expectRef(r, `["7",null,"room:p","presence_state",{"alice":{"metas":[`+aliceMeta1+`]},"bob":{"metas":[`+bobMeta+`]}}]`)
	a.expectRef(r, bobDiff)

	// set_status: the new meta (new ref, phx_ref_prev) joins, the old leaves.
	a.in(`["1","2","room:p","set_status",{"status":"away"}]`)
	upd := `[null,null,"room:p","presence_diff",{"joins":{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R3","phx_ref_prev":"R1","status":"away"}]}},"leaves":{"alice":{"metas":[` + aliceMeta1 + `]}}}]`
	a.expectRef(r, upd)
	a.expect(`["1","2","room:p","phx_reply",{"response":{},"status":"ok"}]`)
	b.expectRef(r, upd)

	b.in(`["7","8","room:p","phx_leave",{}]`)
	b.expect(`["7","8","room:p","phx_reply",{"response":{},"status":"ok"}]`)
	b.expect(`["7","7","room:p","phx_close",{}]`)
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[`+bobMeta+`]}}}]`)
	a.expectNone()

	if got, want := listText(t, p, r, "room:p"), `alice={"online_at":1700000000000,"phx_ref":"R3","phx_ref_prev":"R1","status":"away"}`; got != want {
		t.Fatalf("List: %s, want %s", got, want)
	}
	// Untrack by the app.
	a.in(`["1","3","room:p","untrack",{}]`)
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R3","phx_ref_prev":"R1","status":"away"}]}}}]`)
	a.expect(`["1","3","room:p","phx_reply",{"response":{},"status":"ok"}]`)
	if st, _ := p.List("room:p"); len(st) != 0 {
		t.Fatalf("List after untrack: %v", st)
	}
}

// Every way a channel instance can end takes its presence with it.
func TestPresenceAutoUntrack(t *testing.T) {
	cases := []struct {
		name string
		end  func(v *harness)
		// what the victim sees (besides its own diffs)
		victim []string
	}{
		{"phx_leave", func(v *harness) { v.in(`["5","6","room:p","phx_leave",{}]`) },
			[]string{`["5","6","room:p","phx_reply",{"response":{},"status":"ok"}]`, `["5","5","room:p","phx_close",{}]`}},
		{"crash", func(v *harness) { v.in(`["5","6","room:p","crash",{}]`) },
			[]string{`["5","5","room:p","phx_error",{"reason":"channel_crash"}]`}},
		{"stop", func(v *harness) { v.in(`["5","6","room:p","leave_me",{}]`) },
			[]string{`["5","5","room:p","phx_close",{}]`}},
		{"socket closed abruptly", func(v *harness) { v.drop() }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: -1})
			r := &refNames{}
			a := srv.user(t, "alice")
			a.join("room:p", "1")
			a.next()
			a.next()
			v := srv.user(t, "bob")
			v.join("room:p", "5")
			a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}},"leaves":{}}]`)
			v.next()
			v.next()
			tc.end(v)
			for _, w := range tc.victim {
				v.expect(w)
			}
			a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]}}}]`)
			a.expectNone()
			if _, ok := mustList(t, p, "room:p")["bob"]; ok {
				t.Fatal("bob still listed")
			}
			if n := p.numOwners(); n != 1 {
				t.Fatalf("%d owners left, want 1 (alice)", n)
			}
		})
	}
}

// A rejoin (duplicate join, or phoenix.js rejoining after a crash) is a
// new channel instance: the old meta leaves, a new one joins, and the new
// instance gets a fresh presence_state with its own join_ref.
func TestPresenceRejoin(t *testing.T) {
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: -1})
	r := &refNames{}
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	a.next()
	a.next()
	v := srv.user(t, "bob")
	v.join("room:p", "3")
	a.next()
	v.next()
	v.next()
	r.canon(`"phx_ref":"` + mustList(t, p, "room:p")["alice"].ref(t) + `"`) // R1
	r.canon(`"phx_ref":"` + mustList(t, p, "room:p")["bob"].ref(t) + `"`)   // R2
	v.in(`["9","9","room:p","phx_join",{}]`)
	v.expect(`["9","9","room:p","phx_reply",{"response":{},"status":"ok"}]`)
	v.expect(`["3","3","room:p","phx_close",{}]`)
	v.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R3"}]}},"leaves":{}}]`)
	v.expectRef(r, `["9",null,"room:p","presence_state",{"alice":{"metas":[{"online_at":1700000000000,"phx_ref":"R1"}]},"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R3"}]}}]`)
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R2"}]}}}]`)
	a.expectRef(r, `[null,null,"room:p","presence_diff",{"joins":{"bob":{"metas":[{"online_at":1700000000000,"phx_ref":"R3"}]}},"leaves":{}}]`)
}

// Two sockets of one user: two metas under one key; the key stays until
// both are gone.
func TestPresenceTwoSocketsOneUser(t *testing.T) {
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: -1})
	obs := srv.user(t, "obs")
	obs.join("room:p", "1")
	view := newClientView(t)
	s1 := srv.user(t, "alice")
	s1.join("room:p", "1")
	s2 := srv.user(t, "alice")
	s2.join("room:p", "1")
	s1.settle() // AfterJoin has tracked
	s2.settle()
	if n := len(mustList(t, p, "room:p")["alice"].Metas); n != 2 {
		t.Fatalf("alice has %d metas, want 2", n)
	}
	c1, c2 := s1.lookup("room:p"), s2.lookup("room:p")
	s1.drop()
	<-c1.Done() // its presence left with it (OnTerminate)
	if n := len(mustList(t, p, "room:p")["alice"].Metas); n != 1 {
		t.Fatalf("alice has %d metas, want 1", n)
	}
	s2.in(`["1","2","room:p","set_status",{"status":"busy"}]`)
	s2.settle()
	if st := mustList(t, p, "room:p")["alice"].Metas; len(st) != 1 || !strings.Contains(string(st[0]), `"status":"busy"`) {
		t.Fatalf("alice after update: %s", st)
	}
	s2.drop()
	<-c2.Done()
	if _, ok := mustList(t, p, "room:p")["alice"]; ok {
		t.Fatal("alice still listed")
	}
	for _, f := range obs.drain() {
		view.feed(f)
	}
	r := &refNames{}
	if got, want := view.text(r), listText(t, p, r, "room:p"); got != want {
		t.Fatalf("client view %s, server %s", got, want)
	}
}

// Keys that would break phoenix.js clients, and other misuse.
func TestPresenceRefusals(t *testing.T) {
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: -1})
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	a.settle() // the join is complete (Track refuses a join in flight)
	c := a.lookup("room:p")
	for _, key := range []string{"", "__proto__", "constructor", "prototype", "hasOwnProperty",
		"toString", "valueOf", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString",
		"__defineGetter__", "__defineSetter__", "__lookupGetter__", "__lookupSetter__", "bad\xff"} {
		err := p.Track(c, key, nil)
		if !errors.Is(err, ErrKey) {
			t.Errorf("Track(%q): %v, want ErrKey", key, err)
		}
	}
	for _, key := range []string{"user:__proto__", "Constructor", "toString2", "42", "ünïcode"} {
		if err := p.Track(c, key, nil); err != nil {
			t.Errorf("Track(%q): %v", key, err)
		}
	}
	if err := p.Track(c, "42", nil); !errors.Is(err, ErrAlreadyTracked) {
		t.Errorf("second Track: %v", err)
	}
	for _, meta := range []any{phx.RawJSON(`[1]`), "str", 5, phx.Binary{1}} {
		if err := p.Track(c, "m", meta); !errors.Is(err, ErrMeta) {
			t.Errorf("Track meta %v: %v, want ErrMeta", meta, err)
		}
	}
	if err := p.Update(c, "nobody", nil); !errors.Is(err, ErrNotTracked) {
		t.Errorf("Update untracked: %v", err)
	}
	if err := p.Untrack(c, "nobody"); !errors.Is(err, ErrNotTracked) {
		t.Errorf("Untrack untracked: %v", err)
	}
	// Tracking from Join (the join is not complete): refused.
	ph := srv.handler
	a.in(`["2","2","room:q","phx_join",{"track_in_join":true}]`)
	a.settle()
	ph.mu.Lock()
	joinErr := ph.joinErr
	ph.mu.Unlock()
	if !errors.Is(joinErr, ErrNotJoined) {
		t.Errorf("Track in Join: %v, want ErrNotJoined", joinErr)
	}
	a.in(`["1","3","room:p","phx_leave",{}]`)
	<-c.Done()
	if err := p.Track(c, "late", nil); !errors.Is(err, phx.ErrChannelClosed) {
		t.Errorf("Track on a closed channel: %v", err)
	}
	cq := a.lookup("room:q")
	a.in(`["2","4","room:q","phx_leave",{}]`)
	<-cq.Done()
	if len(mustList(t, p, "room:p")) != 0 || len(mustList(t, p, "room:q")) != 0 {
		t.Fatal("presences outlived their channels")
	}
	_ = p.Close()
	if err := p.Track(c, "x", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Track after Close: %v", err)
	}
}

// An updater sees the current meta with exact numbers.
func TestPresenceUpdaterNumbers(t *testing.T) {
	srv, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: -1})
	a := srv.user(t, "alice")
	a.join("room:p", "1")
	a.settle() // the join is complete (Track refuses a join in flight)
	c := a.lookup("room:p")
	if err := p.Track(c, "k", phx.RawJSON(`{"online_at":1795876034181,"big":9007199254740993,"f":1.5,"phx_ref":"x"}`)); err != nil {
		t.Fatal(err)
	}
	var prevRef string
	err := p.Update(c, "k", func(m map[string]any) any {
		prevRef, _ = m["phx_ref"].(string)
		m["status"] = "away"
		return m
	})
	if err != nil {
		t.Fatal(err)
	}
	got := string(mustList(t, p, "room:p")["k"].Metas[0])
	want := fmt.Sprintf(`{"big":9007199254740993,"f":1.5,"online_at":1795876034181,"phx_ref":"%s","phx_ref_prev":"%s","status":"away"}`,
		mustList(t, p, "room:p")["k"].ref(t), prevRef)
	if got != want || len(prevRef) < refPrefixLen+1 {
		t.Fatalf("meta %s, want %s", got, want)
	}
	// A plain value replaces the meta.
	if err := p.Update(c, "k", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if m := string(mustList(t, p, "room:p")["k"].Metas[0]); !strings.Contains(m, `"n":1`) || strings.Contains(m, "big") {
		t.Fatalf("replaced meta %s", m)
	}
}

func TestPresenceRefs(t *testing.T) {
	seen := make(map[string]bool)
	for i := 0; i < 20_000; i++ {
		r := newRef()
		if len(r) < refPrefixLen+1 || len(r) > 16 || seen[r] || r[:refPrefixLen] != refPrefix {
			t.Fatalf("ref %q: len %d, duplicate %v, prefix %q", r, len(r), seen[r], refPrefix)
		}
		for _, c := range r {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("ref %q is not base64url", r)
			}
		}
		seen[r] = true
	}
	// The counter part is the count in base64url digits without leading
	// zero digits: the shortest refs, and never two alike.
	saved := refSeq.Load()
	for _, c := range []struct {
		n    uint64
		want string
	}{{0, "A"}, {1, "B"}, {63, "_"}, {64, "BA"}, {262_143, "___"}, {262_144, "BAAA"}, {1<<64 - 1, "P__________"}} {
		refSeq.Store(c.n - 1)
		if got := newRef(); got != refPrefix+c.want {
			t.Errorf("ref number %d: %q, want %q", c.n, got, refPrefix+c.want)
		}
	}
	refSeq.Store(saved) // the refs above were not used: later ones stay unique
	// Two processes draw different prefixes (36 random bits each).
	if a, b := newRefPrefix(), newRefPrefix(); a == b || len(a) != refPrefixLen {
		t.Fatalf("prefixes %q and %q", a, b)
	}
}

func mustList(t testing.TB, p *Presence, topic string) State {
	t.Helper()
	st, err := p.List(topic)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (m Metas) ref(t testing.TB) string {
	t.Helper()
	if len(m.Metas) != 1 {
		t.Fatalf("want one meta, got %s", m.Metas)
	}
	var r struct {
		Ref string `json:"phx_ref"`
	}
	if err := json.Unmarshal(m.Metas[0], &r); err != nil {
		t.Fatal(err)
	}
	return r.Ref
}

// A process that restarts under the node id of one that died without
// leaving removes the dead one's presences and announces their leaves.
func TestPresenceRestartClearsGhosts(t *testing.T) {
	ps, store := pubsub.NewMemory(), NewMemoryStore()
	ctx := t.Context()
	if _, err := store.Heartbeat(ctx, "a", time.Now()); err != nil { // still "alive"
		t.Fatal(err)
	}
	ghost := Entry{Topic: "room:p", Key: "ghost", Ref: "GOw7vPYKRWrubwBR",
		Meta: phx.RawJSON(`{"phx_ref":"GOw7vPYKRWrubwBR"}`), Node: "a", Owner: "a#1"}
	if err := store.Apply(ctx, "room:p", []Entry{ghost}, nil); err != nil {
		t.Fatal(err)
	}
	srvB, _ := newPresenceServer(t, phx.Config{PubSub: ps}, Config{Store: store, Node: "b", DiffWindow: -1})
	obs := srvB.user(t, "obs")
	obs.join("room:p", "1")
	obs.next() // obs's own join
	if st := obs.next(); !strings.Contains(st, `"ghost"`) {
		t.Fatalf("state without the ghost: %s", st)
	}
	_, pA := newPresenceServer(t, phx.Config{PubSub: ps}, Config{Store: store, Node: "a", DiffWindow: -1})
	obs.expect(`[null,null,"room:p","presence_diff",{"joins":{},"leaves":{"ghost":{"metas":[{"phx_ref":"GOw7vPYKRWrubwBR"}]}}}]`)
	if _, ok := mustList(t, pA, "room:p")["ghost"]; ok {
		t.Fatal("ghost still listed")
	}
	if existed, err := store.Heartbeat(ctx, "a", time.Now()); err != nil || !existed {
		t.Fatalf("restarted node not registered: %v %v", existed, err)
	}
}
