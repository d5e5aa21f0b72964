// Package presencetest is the conformance suite of presence.Store
// implementations. Every store (the in-memory one, Redis, …) must pass it:
//
//	func TestMyStore(t *testing.T) {
//		presencetest.RunStore(t, func() presence.Store { return newMyStore(t) })
//	}
//
// newStore must return an empty, independent store on each call.
package presencetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presence"
)

// RunStore runs every conformance case as a subtest of t.
func RunStore(t *testing.T, newStore func() presence.Store) {
	cases := []struct {
		name string
		f    func(t *testing.T, s presence.Store)
	}{
		{"ApplyAndList", testApplyAndList},
		{"MetasOfAKeyKeepOrder", testKeyOrder},
		{"LeavesByRef", testLeaves},
		{"JoinIsUpsert", testUpsert},
		{"TopicsAreSeparate", testTopics},
		{"Revision", testRevision},
		{"Heartbeat", testHeartbeat},
		{"ExpireNode", testExpireNode},
		{"ExpireNodeIsAClaim", testExpireClaim},
		{"NodesWithEntriesOnly", testEntriesOnlyNode},
		{"Concurrent", testConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.f(t, newStore()) })
	}
}

// Entry builds a test entry; ref must be unique per test.
func Entry(topic, key, ref, node string) presence.Entry {
	return presence.Entry{Topic: topic, Key: key, Ref: ref,
		Meta: phx.RawJSON(fmt.Sprintf(`{"online_at":1700000000000,"phx_ref":%q}`, ref)),
		Node: node, Owner: node + "#" + ref}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func apply(t *testing.T, s presence.Store, topic string, joins, leaves []presence.Entry) {
	t.Helper()
	if err := s.Apply(ctx(t), topic, joins, leaves); err != nil {
		t.Fatalf("Apply(%s): %v", topic, err)
	}
}

func list(t *testing.T, s presence.Store, topic string) []presence.Entry {
	t.Helper()
	es, err := s.List(ctx(t), topic)
	if err != nil {
		t.Fatalf("List(%s): %v", topic, err)
	}
	return es
}

// refs lists the refs of entries, sorted.
func refs(es []presence.Entry) string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Ref
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func sameEntry(t *testing.T, got, want presence.Entry) {
	t.Helper()
	if got.Topic != want.Topic || got.Key != want.Key || got.Ref != want.Ref ||
		got.Node != want.Node || got.Owner != want.Owner || !jsonEqual(got.Meta, want.Meta) {
		t.Fatalf("entry %+v (meta %s), want %+v (meta %s)", got, got.Meta, want, want.Meta)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func testApplyAndList(t *testing.T, s presence.Store) {
	if es := list(t, s, "room:a"); len(es) != 0 {
		t.Fatalf("new store lists %v", es)
	}
	e1 := Entry("room:a", "alice", "r1", "n1")
	e1.Meta = phx.RawJSON(`{"online_at":1795876034181,"phx_ref":"r1","nested":{"a":[1,"two",null]},"s":"héllo ✓"}`)
	e2 := Entry("room:a", "bob", "r2", "n2")
	apply(t, s, "room:a", []presence.Entry{e1, e2}, nil)
	es := list(t, s, "room:a")
	if len(es) != 2 {
		t.Fatalf("listed %d entries, want 2", len(es))
	}
	byRef := map[string]presence.Entry{}
	for _, e := range es {
		byRef[e.Ref] = e
	}
	sameEntry(t, byRef["r1"], e1) // every field, node and owner included
	sameEntry(t, byRef["r2"], e2)
}

func testKeyOrder(t *testing.T, s presence.Store) {
	var joins []presence.Entry
	for i := range 5 {
		joins = append(joins, Entry("room:a", "alice", fmt.Sprintf("r%d", i), "n1"))
	}
	apply(t, s, "room:a", joins[:3], nil)
	apply(t, s, "room:a", joins[3:], nil)
	apply(t, s, "room:a", nil, joins[1:2])
	var got []string
	for _, e := range list(t, s, "room:a") {
		got = append(got, e.Ref)
	}
	if strings.Join(got, ",") != "r0,r2,r3,r4" {
		t.Fatalf("metas of one key in order %v, want r0,r2,r3,r4 (insertion order)", got)
	}
}

func testLeaves(t *testing.T, s presence.Store) {
	a, b, c := Entry("room:a", "k", "r1", "n1"), Entry("room:a", "k", "r2", "n1"), Entry("room:a", "j", "r3", "n2")
	apply(t, s, "room:a", []presence.Entry{a, b, c}, nil)
	// A leave is matched by ref (its meta is not compared); unknown refs
	// are ignored.
	leave := b
	leave.Meta = phx.RawJSON(`{}`)
	apply(t, s, "room:a", nil, []presence.Entry{leave, Entry("room:a", "k", "nope", "n1")})
	if got := refs(list(t, s, "room:a")); got != "r1,r3" {
		t.Fatalf("after leave: %s, want r1,r3", got)
	}
	// Joins and leaves in one call: one update (new ref in, old ref out).
	d := Entry("room:a", "k", "r4", "n1")
	apply(t, s, "room:a", []presence.Entry{d}, []presence.Entry{a})
	if got := refs(list(t, s, "room:a")); got != "r3,r4" {
		t.Fatalf("after update: %s, want r3,r4", got)
	}
	apply(t, s, "room:a", nil, []presence.Entry{c, d})
	if es := list(t, s, "room:a"); len(es) != 0 {
		t.Fatalf("emptied topic lists %v", es)
	}
}

func testUpsert(t *testing.T, s presence.Store) {
	e := Entry("room:a", "k", "r1", "n1")
	apply(t, s, "room:a", []presence.Entry{e}, nil)
	e.Meta = phx.RawJSON(`{"phx_ref":"r1","v":2}`)
	apply(t, s, "room:a", []presence.Entry{e}, nil)
	es := list(t, s, "room:a")
	if len(es) != 1 {
		t.Fatalf("re-applied join: %d entries, want 1", len(es))
	}
	sameEntry(t, es[0], e)
}

func testTopics(t *testing.T, s presence.Store) {
	apply(t, s, "room:a", []presence.Entry{Entry("room:a", "k", "r1", "n1")}, nil)
	apply(t, s, "room:b", []presence.Entry{Entry("room:b", "k", "r2", "n1")}, nil)
	// A leave applied to another topic does not touch this one.
	apply(t, s, "room:b", nil, []presence.Entry{Entry("room:b", "k", "r1", "n1")})
	if got := refs(list(t, s, "room:a")); got != "r1" {
		t.Fatalf("room:a: %s", got)
	}
	if got := refs(list(t, s, "room:b")); got != "r2" {
		t.Fatalf("room:b: %s", got)
	}
}

func revision(t *testing.T, s presence.Store, topic string) uint64 {
	t.Helper()
	r, err := s.Revision(ctx(t), topic)
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return r
}

func testRevision(t *testing.T, s presence.Store) {
	if r := revision(t, s, "room:a"); r != 0 {
		t.Fatalf("revision of an unknown topic: %d, want 0", r)
	}
	seen := map[uint64]bool{}
	step := func(what string, joins, leaves []presence.Entry) {
		t.Helper()
		apply(t, s, "room:a", joins, leaves)
		r := revision(t, s, "room:a")
		if len(list(t, s, "room:a")) == 0 {
			if r != 0 {
				t.Fatalf("%s: empty topic has revision %d, want 0", what, r)
			}
			return
		}
		if r == 0 || seen[r] {
			t.Fatalf("%s: revision %d is zero or repeats an earlier one", what, r)
		}
		seen[r] = true
	}
	a, b := Entry("room:a", "k", "r1", "n1"), Entry("room:a", "k", "r2", "n1")
	step("first join", []presence.Entry{a}, nil)
	other := revision(t, s, "room:b")
	step("second join", []presence.Entry{b}, nil)
	step("leave", nil, []presence.Entry{a})
	step("last leave", nil, []presence.Entry{b})
	step("join again", []presence.Entry{Entry("room:a", "k", "r3", "n1")}, nil)
	step("another node joins", []presence.Entry{Entry("room:a", "j", "r4", "n2")}, nil)
	if r := revision(t, s, "room:b"); r != other {
		t.Fatalf("room:b's revision moved (%d → %d) with room:a's changes", other, r)
	}
	r := revision(t, s, "room:a")
	if _, err := s.ExpireNode(ctx(t), "n1"); err != nil {
		t.Fatal(err)
	}
	if r2 := revision(t, s, "room:a"); r2 == r || r2 == 0 || seen[r2] {
		t.Fatalf("revision %d after ExpireNode removed an entry (was %d)", r2, r)
	}
}

func testHeartbeat(t *testing.T, s presence.Store) {
	c := ctx(t)
	t0 := time.Now().Truncate(time.Millisecond)
	existed, err := s.Heartbeat(c, "n1", t0)
	if err != nil || existed {
		t.Fatalf("first heartbeat: existed=%v err=%v, want false, nil", existed, err)
	}
	existed, err = s.Heartbeat(c, "n1", t0.Add(time.Second))
	if err != nil || !existed {
		t.Fatalf("second heartbeat: existed=%v err=%v, want true, nil", existed, err)
	}
	if _, err := s.Heartbeat(c, "n2", t0); err != nil {
		t.Fatal(err)
	}
	got := nodes(t, s)
	if len(got) != 2 || !seenAt(got["n1"], t0.Add(time.Second)) || !seenAt(got["n2"], t0) {
		t.Fatalf("nodes %v, want n1 at %v and n2 at %v", got, t0.Add(time.Second), t0)
	}
}

// seenAt compares heartbeat times to the millisecond (stores may keep
// milliseconds only).
func seenAt(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -time.Millisecond && d < time.Millisecond
}

func nodes(t *testing.T, s presence.Store) map[string]time.Time {
	t.Helper()
	ns, err := s.Nodes(ctx(t))
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	out := map[string]time.Time{}
	for _, n := range ns {
		out[n.ID] = n.LastSeen
	}
	return out
}

func testExpireNode(t *testing.T, s presence.Store) {
	c := ctx(t)
	for _, n := range []string{"n1", "n2"} {
		if _, err := s.Heartbeat(c, n, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, s, "room:a", []presence.Entry{Entry("room:a", "k", "r1", "n1"), Entry("room:a", "k", "r2", "n2"),
		Entry("room:a", "j", "r3", "n1")}, nil)
	apply(t, s, "room:b", []presence.Entry{Entry("room:b", "k", "r4", "n1"), Entry("room:b", "k", "r5", "n2")}, nil)
	gone, err := s.ExpireNode(c, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if got := refs(gone); got != "r1,r3,r4" {
		t.Fatalf("ExpireNode returned %s, want r1,r3,r4", got)
	}
	for _, e := range gone {
		want := Entry(e.Topic, e.Key, e.Ref, "n1")
		sameEntry(t, e, want) // complete entries, topic included, for the leaves
	}
	if got := refs(list(t, s, "room:a")); got != "r2" {
		t.Fatalf("room:a after expiry: %s", got)
	}
	if got := refs(list(t, s, "room:b")); got != "r5" {
		t.Fatalf("room:b after expiry: %s", got)
	}
	if _, ok := nodes(t, s)["n1"]; ok {
		t.Fatal("expired node still in Nodes")
	}
	if _, ok := nodes(t, s)["n2"]; !ok {
		t.Fatal("live node missing from Nodes")
	}
	if again, err := s.ExpireNode(c, "n1"); err != nil || len(again) != 0 {
		t.Fatalf("second ExpireNode: %v %v, want nothing", again, err)
	}
	// The expired node's next heartbeat tells it so.
	if existed, err := s.Heartbeat(c, "n1", time.Now()); err != nil || existed {
		t.Fatalf("heartbeat after expiry: existed=%v err=%v, want false", existed, err)
	}
	if gone, err := s.ExpireNode(c, "unknown"); err != nil || len(gone) != 0 {
		t.Fatalf("ExpireNode(unknown): %v %v", gone, err)
	}
}

func testExpireClaim(t *testing.T, s presence.Store) {
	var joins []presence.Entry
	for i := range 200 {
		joins = append(joins, Entry("room:a", fmt.Sprintf("k%d", i%7), fmt.Sprintf("r%d", i), "dead"))
	}
	apply(t, s, "room:a", joins, nil)
	var wg sync.WaitGroup
	results := make([][]presence.Entry, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gone, err := s.ExpireNode(context.Background(), "dead")
			if err != nil {
				t.Error(err)
			}
			results[i] = gone
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for _, r := range results {
		for _, e := range r {
			seen[e.Ref]++
		}
	}
	if len(seen) != 200 {
		t.Fatalf("%d distinct entries returned, want 200", len(seen))
	}
	for ref, n := range seen {
		if n != 1 {
			t.Fatalf("entry %s returned to %d expirers, want exactly 1", ref, n)
		}
	}
}

func testEntriesOnlyNode(t *testing.T, s presence.Store) {
	// Entries of a node that never heartbeated (or was expired and wrote
	// again before its next heartbeat) make it listed, never seen.
	apply(t, s, "room:a", []presence.Entry{Entry("room:a", "k", "r1", "ghost")}, nil)
	got := nodes(t, s)
	last, ok := got["ghost"]
	if !ok || !last.IsZero() {
		t.Fatalf("nodes %v: want ghost with zero LastSeen", got)
	}
	gone, err := s.ExpireNode(ctx(t), "ghost")
	if err != nil || refs(gone) != "r1" {
		t.Fatalf("ExpireNode(ghost): %v %v", gone, err)
	}
	if _, ok := nodes(t, s)["ghost"]; ok {
		t.Fatal("ghost still listed")
	}
}

func testConcurrent(t *testing.T, s presence.Store) {
	const workers, per = 8, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := context.Background()
			topic := fmt.Sprintf("room:%d", w%2)
			for i := range per {
				e := Entry(topic, fmt.Sprintf("k%d", i%5), fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("n%d", w))
				if err := s.Apply(c, topic, []presence.Entry{e}, nil); err != nil {
					t.Error(err)
					return
				}
				if i%2 == 1 { // every other entry leaves again
					if err := s.Apply(c, topic, nil, []presence.Entry{e}); err != nil {
						t.Error(err)
						return
					}
				}
				if _, err := s.List(c, topic); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	total := len(list(t, s, "room:0")) + len(list(t, s, "room:1"))
	if total != workers*per/2 {
		t.Fatalf("%d entries after concurrent applies, want %d", total, workers*per/2)
	}
}
