package phxredis

import (
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
