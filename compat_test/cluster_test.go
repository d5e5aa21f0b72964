package compat_test

// Several phxd nodes on one Redis (-redis), end to end: real redis-server
// processes (package redistest, private, on free ports), three real phxd
// processes, and real phoenix.js clients spread over them
// (cluster_harness_test.go, js/cluster.js). What a client on one node does
// must reach the clients of every node: chat, presence, kick_me,
// /api/broadcast; a node that dies has its users leave everyone's list; a
// Redis outage stops nothing local, and everything recovers when Redis
// is back, without restarting a node.

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// clusterRoom joins users[i] through nodes[i%len(nodes)] (client ids are
// the user names) and waits until every client lists all of them.
func clusterRoom(d *driver, nodes []*phxd, room string, users ...string) {
	d.t.Helper()
	for i, u := range users {
		d.open(u, nodes[i%len(nodes)], u, room)
	}
	d.waitPresence("every client lists "+fmt.Sprint(users), users, users...)
}

// chatAcross pushes new_msg from one client and waits until every client
// in ids has it.
func chatAcross(d *driver, from, body string, ids []string) {
	d.t.Helper()
	ref := d.push(from, "new_msg", map[string]string{"body": body})
	if st := d.reply(ref); st != "ok" {
		d.t.Fatalf("new_msg from %s: reply %s, want ok", from, st)
	}
	d.waitMsg(ids, "new_msg", fmt.Sprintf(`"body":%q`, body))
}

// leavesAfter counts, per observer, the onLeave calls after the event
// index from that removed key's last meta.
func leavesAfter(evs []clientEv, from int, observer, key string) int {
	n := 0
	for _, e := range evs[from:] {
		if e.ID == observer && e.Ev == "leave" && e.Key == key && e.Gone {
			n++
		}
	}
	return n
}

func TestClusterRedis(t *testing.T) {
	t.Parallel()
	redis := redistest.NewServer(t)
	nodes := startNodes(t, 3, uniq("n"), redis.URL())
	d := startDriver(t)
	room := "room:" + uniq("cl")
	a, b, c, dd := uniq("ca"), uniq("cb"), uniq("cc"), uniq("cd")
	users := []string{a, b, c, dd}
	for i, u := range users { // a on node 0, b on 1, c and dd on 2
		d.open(u, nodes[min(i, 2)], u, room)
	}
	d.waitPresence("every client lists "+fmt.Sprint(users), users, users...)
	waitMetric(t, nodes, "phxgo_redis_connected", "1")

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, func(t *testing.T) { d.t = t; f(t) }) {
			t.FailNow()
		}
		d.t = t
	}

	step("chat", func(t *testing.T) {
		chatAcross(d, a, "hello from node 0", users)
		chatAcross(d, c, "hello from node 2", users)
	})

	step("api_broadcast", func(t *testing.T) {
		body := fmt.Sprintf(`{"topic":%q,"event":"announcement","payload":{"text":"from the API on node 1"}}`, room)
		resp, b := postBroadcast(t, nodes[1], body)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /api/broadcast: %d %s", resp.StatusCode, b)
		}
		d.waitMsg(users, "announcement", "from the API on node 1")
	})

	step("kick_me", func(t *testing.T) {
		k := uniq("ck")
		kroom := "room:" + uniq("ck")
		d.open("k0", nodes[0], k, kroom)
		d.open("k2", nodes[2], k, kroom)
		from := len(d.events())
		if st := d.reply(d.push("k0", "kick_me", nil)); st != "ok" {
			t.Fatalf("kick_me: reply %s", st)
		}
		d.wait("both of "+k+"'s sockets closed with 1001", func(evs []clientEv) bool {
			closed := map[string]bool{}
			for _, e := range evs[from:] {
				if e.Ev == "close" && e.Code == 1001 {
					closed[e.ID] = true
				}
			}
			return closed["k0"] && closed["k2"]
		})
		d.stop("k0")
		d.stop("k2")
	})

	step("redis_outage", func(t *testing.T) {
		redis.Stop()
		waitMetric(t, nodes, "phxgo_redis_connected", "0")
		for _, n := range nodes { // the outage outlasts a presence heartbeat
			waitLog(t, n, "presence: heartbeat failed")
		}
		// Local traffic goes on: a's message reaches a (node 0's clients).
		chatAcross(d, a, "during the outage", []string{a})
		// The API says the message stayed on node 1; node 1's client has it.
		body := fmt.Sprintf(`{"topic":%q,"event":"announcement","payload":{"text":"api during the outage"}}`, room)
		if resp, rb := postBroadcast(t, nodes[1], body); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("POST /api/broadcast during the outage: %d %s, want 503", resp.StatusCode, rb)
		}
		d.waitMsg([]string{b}, "announcement", "api during the outage")
		// A user joins node 1 during the outage.
		e := uniq("ce")
		d.open(e, nodes[1], e, room)
		users = append(users, e)

		redis.Restart() // empty, as a Redis without persistence comes back
		waitMetric(t, nodes, "phxgo_redis_connected", "1")
		// Delivery across nodes is at most once: messages published while a
		// node was still resubscribing may be lost. Send until one of them
		// reaches every client.
		for i := 0; ; i++ {
			body := fmt.Sprintf("after the outage %d", i)
			ref := d.push(b, "new_msg", map[string]string{"body": body})
			d.reply(ref)
			if waitUntil(d, func(evs []clientEv) bool {
				return !slices.ContainsFunc(users, func(id string) bool { return !got(evs, id, "new_msg", body) })
			}) {
				break
			}
			if i == 20 {
				t.Fatal("no message reached every client after Redis came back")
			}
		}
		// Presence: every node announced its users again; all lists agree.
		d.waitPresence("every client lists "+fmt.Sprint(users)+" after the outage", users, users...)

		// /metrics tells the story: each node reconnected and saw store
		// errors; node 0 could not hand a's message to the others.
		for i, n := range nodes {
			for _, name := range []string{"phxgo_redis_reconnects_total", "phxgo_redis_presence_store_errors_total"} {
				if v := metric(n, name); v == "" || v == "0" {
					t.Errorf("node %d: %s %q after an outage", i, name, v)
				}
			}
		}
		if v := metric(nodes[0], "phxgo_redis_publish_errors_total"); v == "" || v == "0" {
			t.Errorf("node 0: phxgo_redis_publish_errors_total %q after publishing during the outage", v)
		}
	})

	step("kill_9", func(t *testing.T) {
		from := len(d.events())
		kill9(t, nodes[2])
		d.stop(c) // their sockets are gone: no reconnecting to a dead node
		d.stop(dd)
		alive := slices.DeleteFunc(slices.Clone(users), func(u string) bool { return u == c || u == dd })
		d.waitPresence(c+" and "+dd+" leave every list", alive, alive...)
		// A later change seen by everyone: any second leave would be there.
		f := uniq("cf")
		d.open(f, nodes[0], f, room)
		alive = append(alive, f)
		d.waitPresence(f+" joins every list", alive, alive...)
		evs := d.events()
		for _, o := range alive[:len(alive)-1] {
			for _, gone := range []string{c, dd} {
				if n := leavesAfter(evs, from, o, gone); n != 1 {
					t.Errorf("%s saw %s leave %d times, want exactly once", o, gone, n)
				}
			}
		}
	})
}

// waitUntil is driver.wait that reports a timeout instead of failing,
// bounded by a tenth of clusterWait (for retries).
func waitUntil(d *driver, cond func(evs []clientEv) bool) bool {
	deadline := time.After(clusterWait / 10)
	for {
		d.mu.Lock()
		ok := cond(d.evs)
		changed := d.changed
		d.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline:
			return false
		}
	}
}

// TestClusterRedisCluster: the same chat and presence across three nodes
// on a Redis Cluster of three masters (-redis-cluster).
func TestClusterRedisCluster(t *testing.T) {
	t.Parallel()
	rc := redistest.NewCluster(t, 3)
	nodes := startNodes(t, 3, uniq("m"), rc.URL(), "-redis-cluster")
	d := startDriver(t)
	room := "room:" + uniq("rc")
	users := []string{uniq("ra"), uniq("rb"), uniq("rc")}
	clusterRoom(d, nodes, room, users...)
	waitMetric(t, nodes, "phxgo_redis_connected", "1")
	for i, u := range users {
		chatAcross(d, u, fmt.Sprintf("hello from node %d", i), users)
	}
	// A second room, whose topic hashes elsewhere in the cluster.
	room2 := "room:" + uniq("rc2")
	ids := []string{"x0", "x1", "x2"}
	for i, id := range ids {
		d.open(id, nodes[i], users[i], room2)
	}
	d.waitPresence("every client of "+room2+" lists "+fmt.Sprint(users), ids, users...)
}
