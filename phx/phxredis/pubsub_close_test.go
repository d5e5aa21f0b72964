package phxredis

import (
	"fmt"
	"testing"

	"go.uber.org/goleak"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// Close stops every goroutine the PubSub started, on one server and on a
// cluster (bucket connections included); the subscribers stay served
// locally and Broadcast reports ErrClosed.
func TestCloseStopsGoroutines(t *testing.T) {
	srv := redistest.NewServer(t)
	cl := redistest.NewCluster(t, 3)
	ignore := goleak.IgnoreCurrent()
	for _, tc := range []struct {
		url     string
		cluster bool
	}{{srv.URL(), false}, {cl.URL(), true}} {
		c, err := NewClient(tc.url, tc.cluster)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPubSub(c, PubSubOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := newRec()
		for _, topic := range []string{"room:a", "room:b", "room:c", "room:d"} {
			p.Subscribe(topic, r)
		}
		if err := p.Broadcast(bc("room:a", `{"x":1}`)); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.Broadcast(bc("room:a", `{"x":2}`)); err != ErrClosed {
			t.Fatalf("Broadcast after Close: %v, want ErrClosed", err)
		}
		if got := r.payloads(); len(got) != 2 {
			t.Fatalf("local deliveries after Close: %q", got)
		}
		_ = p.Close() // twice is fine
		_ = c.Close()
	}
	goleak.VerifyNone(t, ignore)
}

// Close publishes what is still queued before it stops.
func TestCloseFlushesQueue(t *testing.T) {
	s := redistest.NewServer(t)
	a := node(t, s.URL(), false, PubSubOptions{Node: "a"})
	b := node(t, s.URL(), false, PubSubOptions{Node: "b"})
	r := newRec()
	b.Subscribe("room:f", r)
	const n = 2000
	for i := range n {
		if err := a.Broadcast(bc("room:f", fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, fmt.Sprintf(`{"n":%d}`, n-1))
	if got := len(r.payloads()); got != n {
		t.Fatalf("b got %d of %d", got, n)
	}
	if st := a.Stats(); st.Published != n || st.Queued != 0 {
		t.Fatalf("a after Close: %+v", st)
	}
}
