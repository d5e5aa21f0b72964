package presence

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
)

// flakyStore fails every call while down is set, as a store that lost its
// server does.
type flakyStore struct {
	Store
	down atomic.Bool
}

var errStoreDown = errors.New("store down (test)")

func (s *flakyStore) Apply(ctx context.Context, topic string, joins, leaves []Entry) error {
	if s.down.Load() {
		return errStoreDown
	}
	return s.Store.Apply(ctx, topic, joins, leaves)
}

func (s *flakyStore) Heartbeat(ctx context.Context, node string, at time.Time) (bool, error) {
	if s.down.Load() {
		return false, errStoreDown
	}
	return s.Store.Heartbeat(ctx, node, at)
}

func (s *flakyStore) Nodes(ctx context.Context) ([]Node, error) {
	if s.down.Load() {
		return nil, errStoreDown
	}
	return s.Store.Nodes(ctx)
}

// logLines is a slog handler's output, safe to read while written.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), sub)
}

// TestStoreOutageLoggedOnce: while the store is down, flushes of many
// topics and several heartbeats each fail, yet every kind of failure is
// logged once at ERROR; the recovery is logged once; and a new outage is
// logged again.
func TestStoreOutageLoggedOnce(t *testing.T) {
	var out logLines
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := &flakyStore{Store: NewMemoryStore()}
	srv, p := newPresenceServer(t, phx.Config{Logger: logger}, Config{Store: store, DiffWindow: -1})
	a := srv.user(t, "alice")
	store.down.Store(true)
	const topics = 8
	for i := range topics {
		a.join("room:o"+string(rune('a'+i)), "1")
		a.settle() // AfterJoin tried its store write, and failed
		a.drain()  // its presence_state
	}
	now := time.Now()
	for i := range 5 {
		p.beat(now.Add(time.Duration(i) * time.Second))
	}
	if n := out.count(`level=ERROR msg="presence: store write failed; diff held back"`); n != 1 {
		t.Errorf("store write failures logged %d times at ERROR, want once for %d topics:\n%s", n, topics, out.buf.String())
	}
	if n := out.count(`level=DEBUG msg="presence: store write failed; diff held back"`); n < topics-1 {
		t.Errorf("%d later store write failures at DEBUG, want %d: the writes did not all fail", n, topics-1)
	}
	if n := out.count(`level=ERROR msg="presence: heartbeat failed"`); n != 1 {
		t.Errorf("heartbeat failures logged %d times at ERROR, want once for 5 beats", n)
	}
	store.down.Store(false)
	p.beat(now.Add(10 * time.Second))
	p.beat(now.Add(11 * time.Second))
	if n := out.count(`msg="presence: store available again"`); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	store.down.Store(true)
	p.beat(now.Add(12 * time.Second))
	if n := out.count(`level=ERROR msg="presence: heartbeat failed"`); n != 2 {
		t.Errorf("a second outage: heartbeat failures logged %d times in all, want 2", n)
	}
}

// TestNoExpiryRightAfterStoreOutage: during a store outage no node could
// heartbeat, so all look dead when it ends; a node expires nobody until it
// has seen the store answer for a whole NodeTimeout.
func TestNoExpiryRightAfterStoreOutage(t *testing.T) {
	const timeout = time.Hour // only the explicit beats below count
	store := &flakyStore{Store: NewMemoryStore()}
	_, p := newPresenceServer(t, phx.Config{}, Config{Store: store, Node: "a", NodeTimeout: timeout})
	ctx := context.Background()
	old := time.Now().Add(-2 * timeout) // "b" last beat long ago: dead by its heartbeat
	if _, err := store.Heartbeat(ctx, "b", old); err != nil {
		t.Fatal(err)
	}
	if err := store.Apply(ctx, "room:x", []Entry{{Topic: "room:x", Key: "bob", Ref: "r1",
		Meta: phx.RawJSON(`{"phx_ref":"r1"}`), Node: "b", Owner: "b#1"}}, nil); err != nil {
		t.Fatal(err)
	}
	store.down.Store(true)
	p.beat(time.Now())
	store.down.Store(false)
	p.beat(time.Now()) // the store answers again: "b" looks dead, but so would every node
	if list, err := store.List(ctx, "room:x"); err != nil || len(list) != 1 {
		t.Fatalf("right after the outage: %d entries (%v), want b's entry kept", len(list), err)
	}
	p.beat(time.Now().Add(timeout + time.Second)) // healthy for a whole NodeTimeout
	if list, err := store.List(ctx, "room:x"); err != nil || len(list) != 0 {
		t.Fatalf("a NodeTimeout after the outage: %d entries (%v), want b expired", len(list), err)
	}
}

// TestDefaultDeadNodeBound: with the defaults, a node that dies without
// leaving is gone from every list within NodeTimeout + HeartbeatInterval
// (node.go), which must stay within 15 s.
func TestDefaultDeadNodeBound(t *testing.T) {
	c := Config{}.withDefaults()
	if worst := c.NodeTimeout + c.HeartbeatInterval; worst > 15*time.Second {
		t.Fatalf("default worst case %v (timeout %v + heartbeat %v), want at most 15s",
			worst, c.NodeTimeout, c.HeartbeatInterval)
	}
}
