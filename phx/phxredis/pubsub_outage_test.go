package phxredis

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// While Redis is down every node goes on serving its own subscribers and
// takes interest changes; when it is back, delivery across nodes resumes
// without restarting anyone, each node subscribed to exactly its interest
// of the moment. The outage is logged once, and its end once.
func TestOutageRecovery(t *testing.T) {
	s := redistest.NewServer(t)
	var logs logBuf
	a := node(t, s.URL(), false, PubSubOptions{Node: "a", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// b's Subscribe could wait long for Redis: it must not wait at all
	// while Redis is away.
	b := node(t, s.URL(), false, PubSubOptions{Node: "b", SubscribeWait: time.Minute})
	ra, rb, gone, fresh := newRec(), newRec(), newRec(), newRec()
	a.Subscribe("room:keep", ra)
	b.Subscribe("room:keep", rb)
	b.Subscribe("room:gone", gone)
	if err := a.Broadcast(bc("room:keep", `{"before":1}`)); err != nil {
		t.Fatal(err)
	}
	rb.waitFor(t, `{"before":1}`)

	s.Stop()
	eventually(t, "a and b see the outage", func() bool { return !a.Stats().Connected && !b.Stats().Connected })
	for i := range 100 {
		err := a.Broadcast(bc("room:keep", fmt.Sprintf(`{"during":%d}`, i)))
		if err != ErrUnavailable {
			t.Fatalf("Broadcast during the outage: %v, want ErrUnavailable", err)
		}
	}
	ra.waitFor(t, `{"during":99}`) // still delivered on a
	if st := a.Stats(); st.Queued != 0 || st.PublishDropped != 100 {
		t.Fatalf("during the outage: %+v", st)
	}
	b.Unsubscribe("room:gone", gone)
	start := time.Now()
	b.Subscribe("room:new", fresh)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Subscribe during the outage took %v: it must not wait for Redis", d)
	}

	// A longer outage: the retries (with backoff) log nothing more.
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); {
		_ = b.Broadcast(bc("room:other", `{"during":"b"}`))
		time.Sleep(5 * time.Millisecond)
	}
	s.Restart()
	eventually(t, "a and b reconnected", func() bool { return a.Stats().Connected && b.Stats().Connected })
	eventually(t, "the interest of the moment subscribed", func() bool {
		chans := strings.Fields(do(t, s, "pubsub", "channels"))
		slices.Sort(chans)
		return slices.Equal(chans, []string{"phx:room:keep", "phx:room:new"}) &&
			numsub(t, s, "phx:room:keep") == 2 && numsub(t, s, "phx:room:new") == 1
	})
	// Joins after the outage wait for Redis again, and are in effect when
	// Subscribe returns.
	b.Subscribe("room:late", newRec())
	if n := numsub(t, s, "phx:room:late"); n != 1 {
		t.Fatalf("NUMSUB phx:room:late = %d once Subscribe returned, want 1", n)
	}
	if err := a.Broadcast(bc("room:new", `{"after":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.Broadcast(bc("room:keep", `{"after":2}`)); err != nil {
		t.Fatal(err)
	}
	fresh.waitFor(t, `{"after":1}`)
	rb.waitFor(t, `{"after":2}`)
	if got := gone.payloads(); len(got) != 0 {
		t.Fatalf("a subscriber that left got %q", got)
	}
	if slices.ContainsFunc(rb.payloads(), func(p string) bool { return strings.Contains(p, "during") }) {
		t.Fatal("b got a broadcast published while Redis was down")
	}
	if st := b.Stats(); st.Reconnects < 1 || st.Topics != 3 {
		t.Fatalf("b after the outage: %+v", st)
	}
	out := logs.String()
	if n := strings.Count(out, "redis unreachable"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "redis reachable again"); n != 1 || !strings.Contains(out, "outage=") {
		t.Fatalf("recovery logged %d times (want once, with its duration):\n%s", n, out)
	}
	t.Logf("node a's log:\n%s", out)
}

// Redis stalled (CLIENT PAUSE) while a publisher floods: the queue holds
// at most QueueLength messages and QueueBytes bytes, the rest is refused
// with ErrQueueFull (after QueueWait), and what was queued goes out once
// Redis answers again.
func TestPublishQueueBound(t *testing.T) {
	for _, bound := range []struct{ length, bytes int }{{200, 16 << 10}, {50, 1 << 20}} {
		t.Run(fmt.Sprintf("%dmsgs_%dB", bound.length, bound.bytes), func(t *testing.T) {
			testQueueBound(t, bound.length, bound.bytes)
		})
	}
}

func testQueueBound(t *testing.T, length, bytes int) {
	s := redistest.NewServer(t)
	p := node(t, s.URL(), false, PubSubOptions{QueueLength: length, QueueBytes: bytes, QueueWait: -1})
	do(t, s, "client", "pause", "1500", "all")
	payload := `{"x":"` + strings.Repeat("x", 100) + `"}`
	var queued, full int
	maxQueued, maxBytes := 0, int64(0)
	for queued+full < 20000 {
		switch err := p.Broadcast(bc("room:flood", payload)); err {
		case nil:
			queued++
		case ErrQueueFull:
			full++
		default:
			t.Fatalf("Broadcast: %v", err)
		}
		maxQueued = max(maxQueued, p.Stats().Queued)
		maxBytes = max(maxBytes, p.queueBytes.Load())
	}
	if maxQueued > length || maxBytes > int64(bytes) || full == 0 {
		t.Fatalf("queue reached %d messages and %d bytes (bounds %d and %d); %d refused", maxQueued, maxBytes, length, bytes, full)
	}
	t.Logf("flood of 20000 while Redis stalls: %d queued (queue peaked at %d messages, %d bytes), %d refused", queued, maxQueued, maxBytes, full)
	eventually(t, "the queue drained once Redis answered", func() bool {
		st := p.Stats()
		return st.Queued == 0 && st.Published == uint64(queued)
	})
	if st := p.Stats(); st.PublishDropped != uint64(full) || st.PublishErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A Redis that stops answering without closing anything (CLIENT PAUSE
// here; a dead peer behind a NAT in life) is noticed by the unanswered
// ping: the Pub/Sub connection is replaced, and delivery across nodes
// resumes once Redis answers again.
func TestUnansweredPingReconnects(t *testing.T) {
	s := redistest.NewServer(t)
	ns := nodes(t, s.URL(), false, 2)
	r := newRec()
	ns[1].Subscribe("room:p", r)
	do(t, s, "client", "pause", "3000", "all")
	eventually(t, "the quiet connection replaced", func() bool { return ns[1].Stats().Reconnects >= 1 })
	eventually(t, "Redis answers again", func() bool { return ns[0].Stats().Connected && ns[1].Stats().Connected })
	eventually(t, "resubscribed", func() bool { return numsub(t, s, "phx:room:p") == 1 })
	if err := ns[0].Broadcast(bc("room:p", `{"after":1}`)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, `{"after":1}`)
}
