package presence

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// healthPubSub is a Memory PubSub that reports a health the test sets.
type healthPubSub struct {
	*pubsub.Memory
	up atomic.Bool
}

func (h *healthPubSub) Connected() bool { return h.up.Load() }

func countStates(frames []string) int {
	n := 0
	for _, f := range frames {
		if strings.Contains(f, `"presence_state"`) {
			n++
		}
	}
	return n
}

// TestResyncAfterPubSubOutage: when a PubSub that reports its health is
// connected again, every channel Presence tracks for gets presence_state
// again, once at the first beat and once more two beats later; beats
// while it is down or steadily up push nothing.
func TestResyncAfterPubSubOutage(t *testing.T) {
	ps := &healthPubSub{Memory: pubsub.NewMemory()}
	ps.up.Store(true)
	srv, p := newPresenceServer(t, phx.Config{PubSub: ps}, Config{DiffWindow: -1})
	p.psUp = true // as New sets it when the heartbeat loop runs
	a := srv.user(t, "alice")
	a.join("room:r", "1")
	a.drain() // the join's presence_state and diff
	beat := func() int { p.watchPubSub(); return countStates(a.drain()) }
	if n := beat(); n != 0 {
		t.Fatalf("a beat with the PubSub up pushed %d presence_state", n)
	}
	ps.up.Store(false)
	if n := beat(); n != 0 {
		t.Fatalf("a beat during the outage pushed %d presence_state", n)
	}
	ps.up.Store(true)
	if n := beat(); n != 1 {
		t.Fatalf("the first beat after the outage pushed %d presence_state, want 1", n)
	}
	if n := beat(); n != 0 {
		t.Fatalf("the next beat pushed %d presence_state, want 0", n)
	}
	if n := beat(); n != 1 {
		t.Fatalf("two beats after the outage: %d presence_state, want 1 (the second resync)", n)
	}
	if n := beat(); n != 0 {
		t.Fatalf("after both resyncs a beat pushed %d presence_state", n)
	}
}
