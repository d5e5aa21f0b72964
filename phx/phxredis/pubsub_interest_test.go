package phxredis

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// calls reads how many times Redis ran cmd (INFO commandstats).
func calls(t *testing.T, s *redistest.Server, cmd string) int {
	t.Helper()
	m := regexp.MustCompile(`cmdstat_` + cmd + `:calls=(\d+)`).FindStringSubmatch(do(t, s, "info", "commandstats"))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// numsub is PUBSUB NUMSUB channel: how many connections are subscribed.
func numsub(t *testing.T, s *redistest.Server, channel string) int {
	t.Helper()
	lines := strings.Fields(do(t, s, "pubsub", "numsub", channel))
	n, _ := strconv.Atoi(lines[len(lines)-1])
	return n
}

// A node subscribes in Redis to the topics it has subscribers of, and only
// those: a broadcast on another topic is not even sent to it.
func TestInterestOnlyLocalTopics(t *testing.T) {
	s := redistest.NewServer(t)
	ns := nodes(t, s.URL(), false, 2)
	a, b := ns[0], ns[1]
	r := newRec()
	a.Subscribe("room:t", r)
	if n := numsub(t, s, "phx:room:t"); n != 1 {
		t.Fatalf("NUMSUB phx:room:t = %d once Subscribe returned, want 1 (node a only)", n)
	}
	if n := numsub(t, s, "phx:room:other"); n != 0 {
		t.Fatalf("NUMSUB phx:room:other = %d, want 0", n)
	}
	for i := range 10 {
		if err := a.Broadcast(bc("room:other", fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Broadcast(bc("room:t", `{"last":1}`)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, `{"last":1}`)
	eventually(t, "a published 11 messages", func() bool { return a.Stats().Published == 11 })
	if st := b.Stats(); st.Received != 0 || st.Dropped != 0 || st.Topics != 0 {
		t.Fatalf("node b, with no subscriber, saw traffic: %+v", st)
	}
	if st := a.Stats(); st.Received != 0 || st.Topics != 1 || !st.Connected {
		t.Fatalf("node a: %+v (its own messages are not received back)", st)
	}
	a.Unsubscribe("room:t", r)
	eventually(t, "NUMSUB phx:room:t back to 0", func() bool { return numsub(t, s, "phx:room:t") == 0 })
	if a.Stats().Topics != 0 {
		t.Fatalf("Topics = %d after the last subscriber left", a.Stats().Topics)
	}
}

// Interest changes are batched: 1,000 topics joined at once, then left one
// after the other, take a few (S)SUBSCRIBE and (S)UNSUBSCRIBE commands, not
// one each.
func TestInterestChurnBatched(t *testing.T) {
	s := redistest.NewServer(t)
	p := node(t, s.URL(), false, PubSubOptions{})
	const topics = 1000
	subs := make([]*rec, topics)
	var wg sync.WaitGroup
	for i := range subs {
		subs[i] = newRec()
		wg.Go(func() { p.Subscribe(fmt.Sprint("room:", i), subs[i]) })
	}
	wg.Wait()
	if n := calls(t, s, "subscribe"); n > topics/20 {
		t.Fatalf("%d SUBSCRIBE commands for %d topics joined at once", n, topics)
	} else {
		t.Logf("%d topics joined at once: %d SUBSCRIBE commands", topics, n)
	}
	eventually(t, "1000 channels subscribed", func() bool {
		return len(strings.Fields(do(t, s, "pubsub", "channels", "phx:*"))) == topics
	})
	for i, r := range subs {
		p.Unsubscribe(fmt.Sprint("room:", i), r)
	}
	eventually(t, "no channel left", func() bool { return do(t, s, "pubsub", "channels", "phx:*") == "" })
	if n := calls(t, s, "unsubscribe"); n > topics/20 {
		t.Fatalf("%d UNSUBSCRIBE commands for %d topics left one after the other", n, topics)
	} else {
		t.Logf("%d topics left one by one: %d UNSUBSCRIBE commands", topics, n)
	}
	if st := p.Stats(); st.Topics != 0 {
		t.Fatalf("Topics = %d", st.Topics)
	}
}

// NoWait topics do not wait for Redis's confirmation; others do.
func TestSubscribeNoWait(t *testing.T) {
	s := redistest.NewServer(t)
	p := node(t, s.URL(), false, PubSubOptions{SubscribeWait: time.Minute,
		NoWait: func(topic string) bool { return strings.HasPrefix(topic, "user_socket:") }})
	p.Subscribe("room:warm", newRec()) // the connection is up
	do(t, s, "client", "pause", "3000", "all")
	waited := make(chan struct{})
	go func() { p.Subscribe("room:x", newRec()); close(waited) }()
	p.Subscribe("user_socket:1", newRec())
	select {
	case <-waited:
		t.Fatal("Subscribe(room:x) returned while Redis could not confirm it")
	default:
	}
	<-waited // released by Redis's reply, or when the paused connection is given up
}
