package phxredis

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/presence"
	"github.com/phxgo/phxgo/phx/presence/presencetest"
)

func stLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newClient is a client of srv, closed when the test ends.
func stClient(t testing.TB, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func stStore(t testing.TB, c redis.UniversalClient, prefix string) *PresenceStore {
	t.Helper()
	s, err := NewPresenceStore(c, StoreOptions{Prefix: prefix, Logger: stLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

var stPrefixes atomic.Int64

// freshPrefix makes each conformance case's store empty and independent.
func stPrefix() string { return fmt.Sprintf("t%d", stPrefixes.Add(1)) }

func TestStoreConformanceSingle(t *testing.T) {
	srv := redistest.NewServer(t)
	c := stClient(t, srv)
	presencetest.RunStore(t, func() presence.Store { return stStore(t, c, stPrefix()) })
}

func TestStoreConformanceCluster(t *testing.T) {
	cl := redistest.NewCluster(t, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = c.Close() })
	presencetest.RunStore(t, func() presence.Store { return stStore(t, c, stPrefix()) })
	// Every key of one store shares a slot: all of them sit on one master.
	s := stStore(t, c, "one")
	e := presencetest.Entry("room:x", "k", "r1", "n1")
	if err := s.Apply(stCtx(t), "room:x", []presence.Entry{e}, nil); err != nil {
		t.Fatal(err)
	}
	holders := 0
	for _, srv := range cl.Servers {
		out, err := srv.Do("keys", "{one:presence}:*")
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(out) != "" {
			holders++
		}
	}
	if holders != 1 {
		t.Fatalf("store keys found on %d masters, want 1", holders)
	}
}

func TestNewPresenceStoreOptions(t *testing.T) {
	srv := redistest.NewServer(t)
	c := stClient(t, srv)
	if _, err := NewPresenceStore(c, StoreOptions{Prefix: "a{b}"}); err == nil {
		t.Fatal("prefix with a hash tag accepted")
	}
	if _, err := NewPresenceStore(nil, StoreOptions{}); err == nil {
		t.Fatal("nil client accepted")
	}
	s := stStore(t, c, "")
	if _, err := s.Heartbeat(stCtx(t), "n1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if out, _ := srv.Do("hexists", "{phx:presence}:beats", "n1"); strings.TrimSpace(out) != "1" {
		t.Fatalf("default prefix: beat not under {phx:presence}: %q", out)
	}
	st := s.Stats()
	if st.Calls != 1 || st.Errors != 0 {
		t.Fatalf("stats %+v, want 1 call, no error", st)
	}
}

// TestStoreByteIdentity: what one node writes, another (its own client)
// reads back byte for byte, in first-added order.
func TestStoreByteIdentity(t *testing.T) {
	srv := redistest.NewServer(t)
	a, b := stStore(t, stClient(t, srv), "bi"), stStore(t, stClient(t, srv), "bi")
	big := strings.Repeat("x\u00e9\u2713\\\"", 40_000) // ~400 KB of escapes and unicode
	metas := []string{
		`{"phx_ref":"r0","s":"h\u00e9llo \u2713 \ud83d\ude00 \"q\" \\ \/ \n\t"}`,
		"{\"phx_ref\":\"r1\", \"raw\":\"h\u00e9llo ✓ 😀\" ,\"n\":1.50e3 }",
		`{"phx_ref":"r2","big":"` + strings.ReplaceAll(strings.ReplaceAll(big, `\`, `\\`), `"`, `\"`) + `"}`,
		"{\n  \"phx_ref\": \"r3\",\n  \"nl\": \"P1 9 9 9 9\\n\"\n}",
		`{"phx_ref":"r4","nul":"\u0000"}`,
	}
	keys := []string{"alice", "b\u00f6b \u2603", "alice", "key with\nnewline", "alice"}
	var joins []presence.Entry
	for i, m := range metas {
		joins = append(joins, presence.Entry{Topic: "room:é", Key: keys[i], Ref: fmt.Sprintf("r%d", i),
			Meta: phx.RawJSON(m), Node: "node\n1 ✓", Owner: fmt.Sprintf("node\n1 ✓#%d", i)})
	}
	// In three calls, so that the order is the order of the calls.
	for _, part := range [][]presence.Entry{joins[:2], joins[2:3], joins[3:]} {
		if err := a.Apply(stCtx(t), "room:é", part, nil); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.List(stCtx(t), "room:é")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(joins) {
		t.Fatalf("listed %d entries, want %d", len(got), len(joins))
	}
	for i, e := range got {
		w := joins[i] // first-added order overall, hence per key too
		if e.Topic != w.Topic || e.Key != w.Key || e.Ref != w.Ref || e.Node != w.Node ||
			e.Owner != w.Owner || string(e.Meta) != string(w.Meta) {
			t.Fatalf("entry %d: got %q/%q/%q/%q meta %.80q, want %q/%q/%q/%q meta %.80q", i,
				e.Key, e.Ref, e.Node, e.Owner, e.Meta, w.Key, w.Ref, w.Node, w.Owner, w.Meta)
		}
	}
	// ExpireNode hands the same bytes back, to the other instance.
	gone, err := b.ExpireNode(stCtx(t), "node\n1 ✓")
	if err != nil || len(gone) != len(joins) {
		t.Fatalf("ExpireNode: %d entries, %v", len(gone), err)
	}
	for _, e := range gone {
		var w presence.Entry
		for _, j := range joins {
			if j.Ref == e.Ref {
				w = j
			}
		}
		if string(e.Meta) != string(w.Meta) || e.Key != w.Key || e.Owner != w.Owner || e.Topic != w.Topic {
			t.Fatalf("expired entry %s differs from what was written", e.Ref)
		}
	}
	if st := a.Stats(); st.Malformed != 0 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestStoreJunk: values nobody valid wrote are dropped and counted.
func TestStoreJunk(t *testing.T) {
	srv := redistest.NewServer(t)
	s := stStore(t, stClient(t, srv), "j")
	good := presencetest.Entry("room:j", "k", "good", "n1")
	if err := s.Apply(stCtx(t), "room:j", []presence.Entry{good}, nil); err != nil {
		t.Fatal(err)
	}
	tk := "{j:presence}:t:room:j"
	junk := map[string]string{
		"j1": "garbage",
		"j2": "P1 1 2 3\nabc",
		"j3": "P1 1 99 1 1\nnk",
		"j4": "P1 1 2 1 0\nn1k{\"not json",
		"j5": "P1 1 2 1 0\nn1k[1,2]",
		"j6": "P1 x 2 1 0\nn1k{}",
		"j7": "P1 1 0 1 0\nk{}",
		"j8": "P1 1 2 1 0\nn1\xff{}",
		"":   "P1 1 2 1 0\nn1k{}",
		"j9": "P1 18446744073709551616 2 1 0\nn1k{}",
		"ja": "P1 1 2 1 0\nn1k{\"a\":\"\xff\"}", // valid JSON, invalid UTF-8: clients get metas in text frames
	}
	for ref, v := range junk {
		if out, err := srv.Do("hset", tk, ref, v); err != nil {
			t.Fatalf("hset: %v %s", err, out)
		}
	}
	es, err := s.List(stCtx(t), "room:j")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Ref != "good" {
		t.Fatalf("listed %v, want only the good entry", es)
	}
	if got := s.Stats().Malformed; got != uint64(len(junk)) {
		t.Fatalf("malformed %d, want %d", got, len(junk))
	}
	// Junk revision, heartbeat and counter: never an error, never trusted.
	for _, cmd := range [][]string{
		{"hset", "{j:presence}:revs", "room:j", "nope"},
		{"hset", "{j:presence}:beats", "n9", "yesterday"},
		{"set", "{j:presence}:seq", "junk"},
		{"hset", "{j:presence}:n:n1", "j1", "room:j"}, // index names a junk value
	} {
		if out, err := srv.Do(cmd...); err != nil {
			t.Fatalf("%v: %v %s", cmd, err, out)
		}
	}
	r1, err := s.Revision(stCtx(t), "room:j")
	if err != nil || r1 == 0 {
		t.Fatalf("Revision with junk stored: %d %v", r1, err)
	}
	r2, err := s.Revision(stCtx(t), "room:j")
	if err != nil || r2 == r1 {
		t.Fatalf("junk revision read twice gave %d and %d, want two fresh values", r1, r2)
	}
	ns, err := s.Nodes(stCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.ID == "n9" && !n.LastSeen.IsZero() {
			t.Fatalf("junk heartbeat read as %v", n.LastSeen)
		}
	}
	// A junk heartbeat is replaced by the next beat.
	if existed, err := s.Heartbeat(stCtx(t), "n9", time.Now()); err != nil || !existed {
		t.Fatalf("beat over junk: %v %v", existed, err)
	}
	gone, err := s.ExpireNode(stCtx(t), "n1")
	if err != nil || len(gone) != 1 || gone[0].Ref != "good" {
		t.Fatalf("ExpireNode over junk: %v %v", gone, err)
	}
	if err := s.Apply(stCtx(t), "room:j", []presence.Entry{presencetest.Entry("room:j", "k", "g2", "n1")}, nil); err != nil {
		t.Fatalf("Apply over a junk counter: %v", err)
	}
	if r3, err := s.Revision(stCtx(t), "room:j"); err != nil || r3 <= r2 {
		t.Fatalf("revision after junk counter: %d (before %d) %v", r3, r2, err)
	}
	if s.Stats().Errors != 0 {
		t.Fatalf("errors: %+v", s.Stats())
	}
}

// TestStoreRedisRestart: after Redis lost its data, heartbeats say so and
// revisions do not repeat, for this client and for a brand new one.
func TestStoreRedisRestart(t *testing.T) {
	srv := redistest.NewServer(t)
	s := stStore(t, stClient(t, srv), "rs")
	if existed, err := s.Heartbeat(stCtx(t), "n1", time.Now()); err != nil || existed {
		t.Fatalf("first beat: %v %v", existed, err)
	}
	seen := map[uint64]bool{}
	for i := range 50 {
		e := presencetest.Entry("room:r", "k", fmt.Sprintf("r%d", i), "n1")
		if err := s.Apply(stCtx(t), "room:r", []presence.Entry{e}, nil); err != nil {
			t.Fatal(err)
		}
		r, err := s.Revision(stCtx(t), "room:r")
		if err != nil {
			t.Fatal(err)
		}
		seen[r] = true
	}
	srv.Stop()
	if _, err := s.Heartbeat(stCtx(t), "n1", time.Now()); err == nil {
		t.Fatal("heartbeat to a stopped redis succeeded")
	}
	srv.Restart()
	if existed, err := s.Heartbeat(stCtx(t), "n1", time.Now()); err != nil || existed {
		t.Fatalf("beat after data loss: existed=%v err=%v, want false (re-announce)", existed, err)
	}
	fresh := stStore(t, stClient(t, srv), "rs")
	for i, st := range []*PresenceStore{fresh, s} {
		e := presencetest.Entry("room:r", "k", fmt.Sprintf("after%d", i), "n1")
		if err := st.Apply(stCtx(t), "room:r", []presence.Entry{e}, nil); err != nil {
			t.Fatal(err)
		}
		r, err := st.Revision(stCtx(t), "room:r")
		if err != nil || r == 0 || seen[r] {
			t.Fatalf("revision %d after restart repeats an earlier one (%v)", r, err)
		}
		seen[r] = true
	}
	if st := s.Stats(); st.Errors != 1 {
		t.Fatalf("stats %+v, want the one failed heartbeat", st)
	}
}

// TestStoreExpireManyClaimed: a node with 10,000 entries over many topics,
// expired by several nodes (each with its own client) at once: each entry
// goes to exactly one of them.
func TestStoreExpireManyClaimed(t *testing.T) {
	srv := redistest.NewServer(t)
	w := stStore(t, stClient(t, srv), "many")
	const total, topics = 10_000, 40
	for tp := range topics {
		topic := fmt.Sprintf("room:%d", tp)
		var joins []presence.Entry
		for i := tp; i < total; i += topics {
			joins = append(joins, presencetest.Entry(topic, fmt.Sprintf("u%d", i%300), fmt.Sprintf("r%05d", i), "dead"))
		}
		if err := w.Apply(stCtx(t), topic, joins, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Apply(stCtx(t), "room:survivor", []presence.Entry{presencetest.Entry("room:survivor", "k", "alive", "n2")}, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([][]presence.Entry, 4)
	start := time.Now()
	for i := range results {
		s := stStore(t, stClient(t, srv), "many")
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
	t.Logf("4 concurrent ExpireNode of a node with %d entries: %v", total, time.Since(start))
	seen := map[string]int{}
	for _, r := range results {
		for _, e := range r {
			seen[e.Ref]++
		}
	}
	if len(seen) != total {
		t.Fatalf("%d distinct entries returned, want %d", len(seen), total)
	}
	for ref, n := range seen {
		if n != 1 {
			t.Fatalf("entry %s returned %d times", ref, n)
		}
	}
	// Left: the survivor's topic and index, the nodes set, revisions,
	// counter, and the claim (kept for a retry) of the one that got them.
	keysOut, _ := srv.Do("keys", "*")
	if keys := strings.Fields(keysOut); len(keys) != 6 || strings.Count(keysOut, ":claim:") != 1 {
		t.Fatalf("keys left after expiry:\n%s", keysOut)
	}
	for _, r := range results {
		for _, e := range r {
			if e.Node != "dead" || !strings.HasPrefix(e.Topic, "room:") || e.Topic == "room:survivor" {
				t.Fatalf("expired entry %+v", e)
			}
		}
	}
}

// TestStoreRefusesUnreadableWrites: a join that would read back as
// malformed is refused, not written.
func TestStoreRefusesUnreadableWrites(t *testing.T) {
	srv := redistest.NewServer(t)
	s := stStore(t, stClient(t, srv), "w")
	good := presencetest.Entry("room:w", "k", "r1", "n1")
	for name, mod := range map[string]func(e *presence.Entry){
		"no ref":      func(e *presence.Entry) { e.Ref = "" },
		"no node":     func(e *presence.Entry) { e.Node = "" },
		"no key":      func(e *presence.Entry) { e.Key = "" },
		"bad key":     func(e *presence.Entry) { e.Key = "\xff" },
		"array meta":  func(e *presence.Entry) { e.Meta = phx.RawJSON(`[1]`) },
		"broken meta": func(e *presence.Entry) { e.Meta = phx.RawJSON(`{"a":`) },
	} {
		e := good
		mod(&e)
		if err := s.Apply(stCtx(t), "room:w", []presence.Entry{e}, nil); err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
	if es, err := s.List(stCtx(t), "room:w"); err != nil || len(es) != 0 {
		t.Fatalf("listed %v %v after refused writes", es, err)
	}
}

// TestStoreExpireRetry: a retried ExpireNode (same claim) gets the same
// entries again; anyone else gets nothing.
func TestStoreExpireRetry(t *testing.T) {
	srv := redistest.NewServer(t)
	s := stStore(t, stClient(t, srv), "retry")
	var joins []presence.Entry
	for i := range 2500 { // more than one RPUSH batch
		joins = append(joins, presencetest.Entry("room:r", "k", fmt.Sprintf("r%d", i), "dead"))
	}
	if err := s.Apply(stCtx(t), "room:r", joins, nil); err != nil {
		t.Fatal(err)
	}
	first, err := s.expire(stCtx(t), "dead", "tok")
	if err != nil || len(first) != len(joins) {
		t.Fatalf("first claim: %d entries, %v", len(first), err)
	}
	again, err := s.expire(stCtx(t), "dead", "tok")
	if err != nil || len(again) != len(first) {
		t.Fatalf("retried claim: %d entries, %v", len(again), err)
	}
	for i := range first {
		if again[i].Ref != first[i].Ref || string(again[i].Meta) != string(first[i].Meta) {
			t.Fatalf("retry entry %d differs", i)
		}
	}
	if other, err := s.ExpireNode(stCtx(t), "dead"); err != nil || len(other) != 0 {
		t.Fatalf("another claimer got %d entries, %v", len(other), err)
	}
	out, _ := srv.Do("pttl", "{retry:presence}:claim:tok")
	if ttl, err := strconv.Atoi(strings.TrimSpace(out)); err != nil || ttl < 30_000 || ttl > 60_000 {
		t.Fatalf("claim kept with pttl %q, want about a minute", out)
	}
}
