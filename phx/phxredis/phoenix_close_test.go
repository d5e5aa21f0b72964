package phxredis

import (
	"io"
	"log/slog"
	"strconv"
	"testing"

	"go.uber.org/goleak"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// Close stops the Phoenix goroutines and the PubSub's; local delivery
// goes on and Broadcast reports ErrClosed.
func TestPhoenixCloseStopsGoroutines(t *testing.T) {
	srv := redistest.NewServer(t)
	ignore := goleak.IgnoreCurrent()
	c, err := NewClient(srv.URL(), false)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := NewPubSub(c, PubSubOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPhoenix(ps, PhoenixOptions{PubSubName: "MyApp.PubSub"})
	if err != nil {
		t.Fatal(err)
	}
	r := newRec()
	p.Subscribe("room:a", r)
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
		t.Fatalf("local deliveries: %q", got)
	}
	_ = p.Close()
	_ = c.Close()
	goleak.VerifyNone(t, ignore)
}

// While Redis is down a node's broadcasts stay local (ErrUnavailable); once it is back, the nodes hear each other again on the Phoenix
// channel.
func TestPhoenixOutage(t *testing.T) {
	srv := redistest.NewServer(t)
	a := phoenixNode(t, srv.URL(), "a", PhoenixOptions{})
	b := phoenixNode(t, srv.URL(), "b", PhoenixOptions{})
	ra, rb := newRec(), newRec()
	a.Subscribe("room:o", ra)
	b.Subscribe("room:o", rb)
	srv.Stop()
	eventually(t, "a sees the outage", func() bool { return !a.PubSub.Stats().Connected })
	if err := a.Broadcast(bc("room:o", `{"during":1}`)); err != ErrUnavailable {
		t.Fatalf("Broadcast during the outage: %v, want ErrUnavailable", err)
	}
	ra.waitFor(t, `{"during":1}`)
	if st := a.Stats(); st.PublishDropped != 1 {
		t.Fatalf("a stats %+v", st)
	}
	srv.Restart()
	eventually(t, "b hears a again", func() bool {
		_ = a.Broadcast(bc("room:o", `{"after":1}`))
		for _, p := range rb.payloads() {
			if p == `{"after":1}` {
				return true
			}
		}
		return false
	})
	for _, p := range rb.payloads() {
		if p == `{"during":1}` {
			t.Fatal("a broadcast published during the outage arrived")
		}
	}
	if st := b.Stats(); st.Dropped != 0 {
		t.Fatalf("b stats %+v", st)
	}
}

// Close publishes what is still queued before it stops: a node's last
// broadcasts (a stopping node's leaves) reach the others.
func TestPhoenixCloseFlushes(t *testing.T) {
	srv := redistest.NewServer(t)
	a := phoenixNode(t, srv.URL(), "a", PhoenixOptions{})
	b := phoenixNode(t, srv.URL(), "b", PhoenixOptions{})
	rb := newRec()
	b.Subscribe("room:f", rb)
	for i := range 100 {
		if err := a.Broadcast(bc("room:f", `{"i":`+strconv.Itoa(i)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	rb.waitFor(t, `{"i":99}`)
	if got := rb.payloads(); len(got) != 100 {
		t.Fatalf("b got %d of 100", len(got))
	}
}

// On a Redis Cluster the Phoenix channel is a classic Pub/Sub channel, as
// phoenix_pubsub_redis uses it: every master relays it.
func TestPhoenixOnRedisCluster(t *testing.T) {
	c := redistest.NewCluster(t, 3)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var nodes []*Phoenix
	for i := range 3 {
		ps, err := NewPubSub(client(t, c.URL(), true), PubSubOptions{Node: "c" + strconv.Itoa(i), Prefix: uniquePrefix(), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewPhoenix(ps, PhoenixOptions{PubSubName: "MyApp.PubSub"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		nodes = append(nodes, p)
	}
	recs := []*rec{newRec(), newRec(), newRec()}
	for i, n := range nodes {
		n.Subscribe("room:c", recs[i])
	}
	for i, n := range nodes {
		if err := n.Broadcast(bc("room:c", `{"from":`+strconv.Itoa(i)+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		for i := range nodes {
			r.waitFor(t, `{"from":`+strconv.Itoa(i)+`}`)
		}
		if got := r.payloads(); len(got) != 3 {
			t.Errorf("got %q, want each broadcast once", got)
		}
	}
}
