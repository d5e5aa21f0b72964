package phxredis

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// On a Redis Cluster, topics are spread over the masters by their bucket's
// hash tag: every master carries some of the sharded channels and of the
// SPUBLISH traffic, and none carries it all.
func TestClusterSpread(t *testing.T) {
	c := redistest.NewCluster(t, 3)
	ns := nodes(t, c.URL(), true, 2)
	const topics = 200
	subs := make([]*rec, topics)
	var wg sync.WaitGroup
	for i := range subs {
		subs[i] = newRec()
		wg.Go(func() { ns[1].Subscribe(fmt.Sprint("room:", i), subs[i]) })
	}
	wg.Wait()
	for i := range topics {
		if err := ns[0].Broadcast(bc(fmt.Sprint("room:", i), fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range subs {
		r.waitFor(t, fmt.Sprintf(`{"n":%d}`, i))
	}
	total := 0
	for _, s := range c.Servers {
		chans := len(strings.Fields(do(t, s, "pubsub", "shardchannels", "*")))
		pubs := calls(t, s, "spublish")
		t.Logf("master %s: %d sharded channels, %d SPUBLISH", s.Addr(), chans, pubs)
		if chans == 0 || chans == topics || pubs == 0 || pubs == topics {
			t.Fatalf("master %s carries %d of %d channels and %d of %d SPUBLISH: not spread", s.Addr(), chans, topics, pubs, topics)
		}
		total += chans
	}
	if total != topics {
		t.Fatalf("%d sharded channels in all, want %d", total, topics)
	}
	// Node 0, with no subscriber, is subscribed to nothing.
	if st := ns[0].Stats(); st.Topics != 0 || st.Received != 0 {
		t.Fatalf("node 0: %+v", st)
	}
	ch, n := ns[1].channel("room:7"), 0
	for _, s := range c.Servers {
		f := strings.Fields(do(t, s, "pubsub", "shardnumsub", ch))
		k, _ := strconv.Atoi(f[len(f)-1])
		n += k
	}
	if n != 1 {
		t.Fatalf("SHARDNUMSUB %s = %d over the masters, want 1 (node 1)", ch, n)
	}
	for i, r := range subs {
		ns[1].Unsubscribe(fmt.Sprint("room:", i), r)
	}
	eventually(t, "no sharded channel left", func() bool {
		for _, s := range c.Servers {
			if do(t, s, "pubsub", "shardchannels", "*") != "" {
				return false
			}
		}
		return true
	})
	ns[1].mu.Lock()
	links := len(ns[1].links)
	ns[1].mu.Unlock()
	if links != 0 {
		t.Fatalf("%d bucket connections left open with no topic", links)
	}
}

// Channel names: one server uses Prefix:topic, a cluster prefixes the
// bucket's hash tag; topicOf reads back only names it would have made.
func TestChannelNames(t *testing.T) {
	one := &PubSub{prefix: "phx:"}
	if ch := one.channel("room:lobby"); ch != "phx:room:lobby" {
		t.Fatalf("channel %q", ch)
	}
	cl := &PubSub{prefix: "phx:", sharded: true, buckets: 32, tags: bucketTags("phx", 32)}
	ch := cl.channel("room:lobby")
	if !strings.HasPrefix(ch, "{phx:") || !strings.HasSuffix(ch, "}phx:room:lobby") {
		t.Fatalf("cluster channel %q", ch)
	}
	for p, names := range map[*PubSub][]string{one: {"phx:room:lobby"}, cl: {ch}} {
		for _, n := range names {
			if topic, ok := p.topicOf(n); !ok || topic != "room:lobby" {
				t.Fatalf("topicOf(%q) = %q, %v", n, topic, ok)
			}
		}
	}
	for _, bad := range []string{"phx:", "other:room", "{phx:1}phx:room:lobby", "{phx:99}phx:x"} {
		if topic, ok := cl.topicOf(bad); ok && cl.channel(topic) != bad {
			t.Fatalf("cluster topicOf(%q) accepted %q", bad, topic)
		}
	}
	if _, ok := one.topicOf("phx:"); ok {
		t.Fatal("empty topic accepted")
	}
}

func TestSlotAndBucketTags(t *testing.T) {
	for key, want := range map[string]int{"foo": 12182, "bar": 5061, "123456789": 0x31c3} {
		if got := slot(key); got != want {
			t.Errorf("slot(%q) = %d, want %d", key, got, want)
		}
	}
	for _, n := range []int{1, 3, 32, 1024} {
		tags := bucketTags("phx", n)
		for b, tag := range tags {
			if s := slot(tag); s < b*clusterSlots/n || s >= (b+1)*clusterSlots/n {
				t.Fatalf("%d buckets: tag %q of bucket %d in slot %d", n, tag, b, s)
			}
		}
	}
}
