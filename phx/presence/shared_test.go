package presence

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/serializer"
)

// sharedOf returns the presence_state that topic's batch holds now, nil
// when none (or no batch).
func (p *Presence) sharedOf(topic string) *phx.SharedPush {
	p.topicsMu.Lock()
	t := p.topics[topic]
	p.topicsMu.Unlock()
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.shared
}

// longIdle is the server config of tests with many clients: under -race on
// a loaded machine, connecting them all can take longer than the default
// idle timeout of the first ones.
var longIdle = phx.Config{Net: phx.NetConfig{IdleTimeout: 10 * time.Minute}}

// 1,000 users join one room inside one window: their states wait for the
// window's end and are then built from one encoding of the room, sent as
// one frame (every joiner has the same join_ref), each joiner finding
// itself in it; a later joiner that tracks nothing reuses that encoding
// too. Re-encoding the state per joiner, or the frame per channel, fails.
func TestPresenceStateSharedPerWindow(t *testing.T) {
	const n = 1000
	srv, p := newPresenceServer(t, longIdle, Config{DiffWindow: hourWindow})
	first := srv.user(t, "first")
	first.join("room:big", "1")
	first.stateOf(t, "room:big", "first") // a quiet topic: its state at once
	encodes := p.stateEncodes.Load()
	hs := make([]*harness, n)
	for i := range hs {
		hs[i] = srv.user(t, fmt.Sprintf("u%d", i))
		hs[i].join("room:big", "1")
	}
	for _, h := range hs {
		h.settle() // AfterJoin has tracked and asked for the state
	}
	if got := p.stateEncodes.Load() - encodes; got != 0 {
		t.Fatalf("%d presence_state encodings while every joiner's own join waits, want 0", got)
	}
	p.tickNow("room:big")
	if got := p.stateEncodes.Load() - encodes; got != 1 {
		t.Fatalf("%d presence_state encodings for %d joiners of one window, want 1", got, n)
	}
	sp := p.sharedOf("room:big")
	if sp == nil || sp.Frames() != 1 {
		t.Fatalf("shared state %v keeps %d frames, want 1 (one version, one join_ref)", sp, sp.Frames())
	}
	r := &refNames{}
	want := listText(t, p, r, "room:big")
	for i, h := range hs {
		frames := h.drain()
		v := newClientView(t)
		states := 0
		for _, f := range frames {
			if strings.Contains(f, `"presence_state"`) {
				states++
				if !strings.Contains(f, fmt.Sprintf(`"u%d":`, i)) {
					t.Fatalf("u%d is not in its own presence_state", i)
				}
			}
			v.feed(f)
		}
		if states != 1 || len(frames) != 1 {
			t.Fatalf("u%d got %d frames, %d of them presence_state; want its state alone: "+
				"the window's diff (joins only) skips the joiners its state covers", i, len(frames), states)
		}
		if i%97 == 0 {
			if got := v.text(r); got != want {
				t.Fatalf("u%d's view differs from the server's list: %s", i, lineDiff(got, want))
			}
		}
	}
	// A channel that tracks nothing, joining now, gets the same encoding.
	if err := p.PushState(first.lookup("room:big")); err != nil {
		t.Fatal(err)
	}
	if got := p.stateEncodes.Load() - encodes; got != 1 {
		t.Fatalf("%d encodings after a push of the unchanged state, want 1", got)
	}
	first.stateOf(t, "room:big", append([]string{"first"}, keysOf(n)...)...)
	// The next change makes it stale: released with the flush.
	p.tickNow("room:big") // nothing waits: the topic goes quiet
	if p.sharedOf("room:big") != nil {
		t.Fatal("the shared state outlives its topic's batch")
	}
	hs[0].in(`["1","2","room:big","untrack",{}]`)
	hs[0].expectEvent(t, "phx_reply")
	if sp := p.sharedOf("room:big"); sp != nil {
		t.Fatal("a stale shared state is kept after the change")
	}
}

func keysOf(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d", i)
	}
	return out
}

// Joins, leaves and updates arriving concurrently on many sockets, with a
// short real window: every client's frames, replayed as phoenix.js does
// (diffs held until the state, then applied in order), end exactly at the
// server's list; no join or leave is lost or doubled between a state and
// the diffs that follow it.
func TestPresenceConcurrentConsistency(t *testing.T) {
	const n, leavers = 300, 100
	srv, p := newPresenceServer(t, longIdle, Config{DiffWindow: 5 * time.Millisecond})
	obs := srv.user(t, "obs")
	obs.join("room:c", "1")
	hs := make([]*harness, n)
	for i := range hs {
		hs[i] = srv.user(t, fmt.Sprintf("u%d", i))
	}
	// Joins go out back to back; leaves and updates of the first ones
	// start while the later ones are still joining.
	for i, h := range hs {
		h.in(`["1","1","room:c","phx_join",{}]`)
		if j := i - 50; j >= 0 && j < leavers {
			if j%2 == 0 {
				hs[j].in(`["1","2","room:c","phx_leave",{}]`)
			} else {
				hs[j].in(`["1","2","room:c","untrack",{}]`)
			}
		}
		if j := i - 20; j >= leavers && j%3 == 0 {
			hs[j].in(`["1","3","room:c","set_status",{"status":"busy"}]`)
		}
	}
	for _, h := range hs {
		h.settle()
	}
	p.quiet(t)
	r := &refNames{}
	want := listText(t, p, r, "room:c")
	if got := strings.Count(want, "online_at"); got != n-leavers+1 {
		t.Fatalf("%d presences listed, want %d", got, n-leavers+1)
	}
	check := func(name string, h *harness) {
		v := newClientView(t)
		for _, f := range h.drain() {
			v.feed(f)
		}
		if !v.synced {
			t.Fatalf("%s never got its presence_state", name)
		}
		if got := v.text(r); got != want {
			t.Fatalf("%s's view differs from the server's list: %s", name, lineDiff(got, want))
		}
	}
	check("obs", obs)
	for i := 1; i < n; i += 2 { // those that untracked are still members
		check(fmt.Sprintf("u%d", i), hs[i])
	}
	for i := leavers; i < n; i += 2 {
		check(fmt.Sprintf("u%d", i), hs[i])
	}
}

// The sorted copy of a topic's entries that each flush updates in place
// (MemoryStore tells the revisions around its Apply) stays equal to what
// listing and sorting the store gives, over many windows of joins and
// leaves on shared keys; and it is kept fresh, not reloaded.
func TestStoredCopyFollowsTheStore(t *testing.T) {
	_, p := newPresenceServer(t, phx.Config{}, Config{DiffWindow: hourWindow})
	const topic = "room:copy"
	rnd := rand.New(rand.NewPCG(1, 2))
	var live []Entry
	for round := range 200 {
		err := p.withTopic(topic, func(tp *batch) error {
			tp.open = true // a window runs throughout: the batch stays
			for range rnd.IntN(6) {
				e := Entry{Topic: topic, Key: fmt.Sprintf("k%d", rnd.IntN(8)), Ref: newRef(),
					Meta: phx.RawJSON(fmt.Sprintf(`{"r":%d}`, round)), Node: p.Node(), Owner: "o"}
				tp.join(e)
				live = append(live, e)
			}
			for range rnd.IntN(4) {
				if len(live) == 0 {
					break
				}
				i := rnd.IntN(len(live))
				tp.leave(live[i])
				live = slices.Delete(live, i, i+1)
			}
			if !p.flush(tp) {
				return errors.New("flush failed")
			}
			rev, _ := p.store.Revision(context.Background(), topic)
			if tp.storedRev != rev || rev != 0 && tp.stored == nil {
				return fmt.Errorf("round %d: copy at revision %d (%d entries), store at %d", round, tp.storedRev, len(tp.stored), rev)
			}
			got := append([]Entry(nil), tp.stored...)
			tp.stored, tp.storedRev = nil, 0
			if err := p.loadStored(tp, rev); err != nil {
				return err
			}
			if len(got) != len(tp.stored) {
				return fmt.Errorf("round %d: copy holds %d entries, store %d", round, len(got), len(tp.stored))
			}
			for i := range got {
				if got[i].Ref != tp.stored[i].Ref || got[i].Key != tp.stored[i].Key {
					return fmt.Errorf("round %d: entry %d is %s/%s, store lists %s/%s", round, i,
						got[i].Key, got[i].Ref, tp.stored[i].Key, tp.stored[i].Ref)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(live) == 0 {
		t.Fatal("nothing left to compare")
	}
}

// phx.SharedPush sends each channel exactly the frame Push would (join_ref
// and serializer version included), keeping one frame per distinct
// (version, join_ref) up to its bound and encoding the rest per push.
func TestSharedPushFrames(t *testing.T) {
	srv, _ := newPresenceServer(t, phx.Config{}, Config{DiffWindow: hourWindow})
	sp, err := phx.NewSharedPush("custom", phx.RawJSON(`{"a":[1,"x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	type client struct {
		ver serializer.Version
		jr  string
	}
	var clients []client
	for _, jr := range []string{"1", "1", "7"} {
		clients = append(clients, client{serializer.V2, jr}, client{serializer.V1, jr})
	}
	for i := range 12 { // more distinct join_refs than the bound
		clients = append(clients, client{serializer.V2, fmt.Sprintf("x%d", i)})
	}
	for i, cl := range clients {
		h := srv.userV(t, cl.ver, fmt.Sprintf("s%d", i))
		h.joinV("room:sp", cl.jr)
		h.settle()
		h.drain() // its presence frames
		c := h.lookup("room:sp")
		if err := c.PushShared(sp); err != nil {
			t.Fatal(err)
		}
		if err := c.Push("custom", phx.RawJSON(`{"a":[1,"x"]}`)); err != nil {
			t.Fatal(err)
		}
		shared, own := h.next(), h.next()
		if shared != own {
			t.Fatalf("client %d (%v, join_ref %s): shared frame %s, Push sends %s", i, cl.ver, cl.jr, shared, own)
		}
		if want := min(4+max(0, i-5), 8); i >= 5 && sp.Frames() != want {
			t.Fatalf("after client %d: %d frames kept, want %d", i, sp.Frames(), want)
		}
	}
}
