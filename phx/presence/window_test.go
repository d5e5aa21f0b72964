package presence

import (
	"fmt"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// countedPubSub claims n local subscribers on every topic.
type countedPubSub struct {
	phx.PubSub
	n int
}

func (c *countedPubSub) Subscribers(string) int { return c.n }

// The window lasts memberWindow per local subscriber of the topic, within
// [DiffWindow, MaxDiffWindow].
func TestWindowWidensWithTheRoom(t *testing.T) {
	const base, top = 10 * time.Millisecond, 300 * time.Millisecond
	ps := &countedPubSub{PubSub: pubsub.NewMemory()}
	members := func(n int) *batch { ps.n = n; return &batch{name: "room:x"} }
	srv, _ := newPresenceServer(t, phx.Config{PubSub: ps}, Config{DiffWindow: -1})
	p := &Presence{srv: srv.Server, cfg: Config{DiffWindow: base, MaxDiffWindow: top}}
	for _, c := range []struct {
		n    int
		want time.Duration
	}{
		{0, base},
		{100, base},                      // 5ms: below the base
		{1000, 1000 * memberWindow},      // 50ms
		{5000, 5000 * memberWindow},      // 250ms
		{1_000_000, top},                 // capped
		{int(top/memberWindow) + 1, top}, // just over the cap
		{int(base / memberWindow), base}, // exactly the base
		{int(base/memberWindow) + 1, base + memberWindow},
	} {
		if got := p.window(members(c.n)); got != c.want {
			t.Errorf("%d members: window %v, want %v", c.n, got, c.want)
		}
	}
	p.cfg.MaxDiffWindow = base // no widening
	if got := p.window(members(1_000_000)); got != base {
		t.Errorf("MaxDiffWindow = DiffWindow: window %v, want %v", got, base)
	}
	p.cfg = Config{DiffWindow: -1, MaxDiffWindow: top} // no batching: the retry delay
	if got := p.window(members(1_000_000)); got != 100*time.Millisecond {
		t.Errorf("DiffWindow < 0: window %v, want the 100ms retry delay", got)
	}
	if got := (Config{}).withDefaults().MaxDiffWindow; got != defaultMaxDiffWindow {
		t.Errorf("default MaxDiffWindow %v, want %v", got, defaultMaxDiffWindow)
	}
}

// In a room of 1,000 the window is 50ms, not the 2ms DiffWindow: changes
// that keep coming for 400ms make at most a dozen diffs (about 8 at 50ms;
// at 2ms it would be a hundred or more), and a member that applies what it
// received as phoenix.js does ends with the server's list.
func TestWideWindowMergesDiffs(t *testing.T) {
	const n = 1000
	srv, p := newPresenceServer(t, longIdle, Config{DiffWindow: 2 * time.Millisecond, MaxDiffWindow: time.Second})
	hs := make([]*harness, n)
	for i := range hs {
		hs[i] = srv.user(t, fmt.Sprintf("u%d", i))
		hs[i].join("room:wide", "1")
	}
	for _, h := range hs {
		h.settle()
	}
	p.quiet(t)
	c := hs[0].lookup("room:wide")
	diffs := p.diffs.Load()
	start := time.Now()
	for i := 0; time.Since(start) < 400*time.Millisecond; i++ {
		if err := p.Update(c, "u0", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	p.quiet(t)
	// 400ms of changes (longer on a loaded machine: fewer diffs still)
	// span at most 400/50 + 2 windows; a generous bound that still
	// catches a window of 2ms.
	if got := p.diffs.Load() - diffs; got > 15 {
		t.Fatalf("%d diffs in 400ms of changes in a room of %d, want ≤ 15 (window %v)", got, n, 50*time.Millisecond)
	}
	r := &refNames{}
	want := listText(t, p, r, "room:wide")
	for _, i := range []int{0, n / 2, n - 1} {
		v := newClientView(t)
		for _, f := range hs[i].drain() {
			v.feed(f)
		}
		if got := v.text(r); got != want {
			t.Fatalf("u%d's view differs from the server's list: %s", i, lineDiff(got, want))
		}
	}
}
