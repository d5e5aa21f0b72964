package phxredis

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// A master of the cluster goes away and comes back (with its cluster
// config, so its slots): the nodes keep serving locally meanwhile, and
// delivery across nodes recovers on every bucket, without restarting any
// node.
func TestClusterMasterRestart(t *testing.T) {
	c := redistest.NewCluster(t, 3)
	ns := nodes(t, c.URL(), true, 2)
	const topics = 30
	subs := make([]*rec, topics)
	for i := range subs {
		subs[i] = newRec()
		ns[1].Subscribe(fmt.Sprint("room:", i), subs[i])
	}
	c.Servers[0].Stop()
	eventually(t, "the outage seen", func() bool { return !ns[0].Stats().Connected || !ns[1].Stats().Connected })
	local := newRec()
	ns[0].Subscribe("room:local", local)
	_ = ns[0].Broadcast(bc("room:local", `{"local":1}`))
	local.waitFor(t, `{"local":1}`)

	c.Servers[0].Restart()
	for _, s := range c.Servers {
		eventually(t, "cluster_state:ok on "+s.Addr(), func() bool {
			return strings.Contains(do(t, s, "cluster", "info"), "cluster_state:ok")
		})
	}
	eventually(t, "both nodes connected", func() bool { return ns[0].Stats().Connected && ns[1].Stats().Connected })
	eventually(t, "every topic delivered across nodes again", func() bool {
		for i, r := range subs {
			want := fmt.Sprintf(`{"n":%d}`, i)
			got := false
			for _, p := range r.payloads() {
				got = got || p == want
			}
			if !got {
				_ = ns[0].Broadcast(bc(fmt.Sprint("room:", i), want))
				return false
			}
		}
		return true
	})
	total := 0
	for _, s := range c.Servers {
		total += len(strings.Fields(do(t, s, "pubsub", "shardchannels", "*")))
	}
	if total != topics+1 { // and node 0's room:local
		t.Fatalf("%d sharded channels after the restart, want %d", total, topics+1)
	}
}
