package compat_test

// The multi-node harness: one private Redis (or Redis Cluster) from
// package redistest, several phxd processes on it (-redis), and one node
// process (js/cluster.js) holding real phoenix.js clients spread over the
// nodes. The driver reports every client event on stdout; the tests wait on
// that log (woken by each new line) and judge it.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clusterWait bounds every wait of the multi-node tests. Only a missing
// event waits that long; passing runs take a fraction of it.
const clusterWait = 20 * time.Second

// startNodes starts n phxd on redisURL (extra flags for each), named
// <prefix>0…, with short presence heartbeats so a dead node is noticed
// quickly.
func startNodes(t *testing.T, n int, prefix, redisURL string, extra ...string) []*phxd {
	t.Helper()
	nodes := make([]*phxd, n)
	for i := range nodes {
		flags := append([]string{"-redis", redisURL, "-node", fmt.Sprintf("%s%d", prefix, i),
			"-presence-heartbeat", "200ms", "-presence-node-timeout", "1s"}, extra...)
		nodes[i] = startServer(t, flags...)
	}
	return nodes
}

// kill9 kills a node with SIGKILL, as a crash: it announces nothing.
func kill9(t *testing.T, s *phxd) {
	t.Helper()
	s.checked.Store(true) // its cleanup must not report the missing exit 0
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.exited
}

// waitLog waits until s has logged a line with this message.
func waitLog(t *testing.T, s *phxd, msg string) {
	t.Helper()
	deadline := time.After(clusterWait)
	for {
		s.mu.Lock()
		found := slices.ContainsFunc(s.entries, func(e logEntry) bool { return e.Msg == msg })
		changed := s.changed
		s.mu.Unlock()
		if found {
			return
		}
		select {
		case <-changed:
		case <-s.exited:
			t.Fatalf("phxd %s exited before logging %q", s.name, msg)
		case <-deadline:
			t.Fatalf("phxd %s: no %q log line within %v", s.name, msg, clusterWait)
		}
	}
}

// metric reads one phxgo_redis_ sample of a node's /metrics ("" if absent).
func metric(s *phxd, name string) string {
	resp, err := http.Get("http://" + s.addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

// waitMetric polls the nodes' /metrics until name reads want on all of
// them (Prometheus has no push: polling is how it is read).
func waitMetric(t *testing.T, nodes []*phxd, name, want string) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		var got []string
		for _, s := range nodes {
			got = append(got, metric(s, name))
		}
		if !slices.ContainsFunc(got, func(v string) bool { return v != want }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v on the nodes after %v, want %s on all", name, got, clusterWait, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clientEv is one line of js/cluster.js.
type clientEv struct {
	ID       string              `json:"id"`
	Ev       string              `json:"ev"`
	Code     int                 `json:"code"`
	Status   string              `json:"status"`
	Ref      string              `json:"ref"`
	Topic    string              `json:"topic"`
	Event    string              `json:"event"`
	Payload  json.RawMessage     `json:"payload"`
	Response json.RawMessage     `json:"response"`
	Keys     []string            `json:"keys"`
	Refs     map[string][]string `json:"refs"`
	Key      string              `json:"key"`
	Gone     bool                `json:"gone"`
	Message  string              `json:"message"`
}

// driver is one js/cluster.js process and the log of its events.
type driver struct {
	t     *testing.T
	stdin io.WriteCloser

	mu      sync.Mutex
	evs     []clientEv
	raw     []string
	changed chan struct{}
	refs    int
}

func startDriver(t *testing.T) *driver {
	t.Helper()
	cmd := exec.Command(nodeBin, "js/cluster.js")
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "PHX_LIB=phoenix")
	dieWithParent(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, stdin: stdin, changed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			var e clientEv
			err := json.Unmarshal(sc.Bytes(), &e)
			d.mu.Lock()
			d.raw = append(d.raw, sc.Text())
			if err == nil {
				d.evs = append(d.evs, e)
			}
			close(d.changed)
			d.changed = make(chan struct{})
			d.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close() // the driver disconnects its clients and exits
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = cmd.Wait()
		if t.Failed() {
			d.mu.Lock()
			t.Logf("js/cluster.js events (last 60):\n%s", strings.Join(d.raw[max(0, len(d.raw)-60):], "\n"))
			d.mu.Unlock()
		}
		if stderr.Len() > 0 {
			t.Logf("js/cluster.js stderr:\n%s", stderr.String())
		}
	})
	return d
}

func (d *driver) send(cmd map[string]any) {
	d.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.stdin.Write(append(b, '\n')); err != nil {
		d.t.Fatalf("js/cluster.js: %v", err)
	}
}

// open connects client id to node s as user and joins room; it waits for
// the join's ok.
func (d *driver) open(id string, s *phxd, user, room string) {
	d.t.Helper()
	d.send(map[string]any{"op": "open", "id": id, "url": s.wsURL(), "user": user, "room": room})
	d.wait(id+" joins "+room, func(evs []clientEv) bool {
		return slices.ContainsFunc(evs, func(e clientEv) bool { return e.ID == id && e.Ev == "joined" && e.Status == "ok" })
	})
}

// push sends event on id's room channel and returns the ref to wait on.
func (d *driver) push(id, event string, payload any) string {
	d.mu.Lock()
	d.refs++
	ref := fmt.Sprint("r", d.refs)
	d.mu.Unlock()
	d.send(map[string]any{"op": "push", "id": id, "ref": ref, "event": event, "payload": payload})
	return ref
}

// reply waits for the reply to ref and returns its status.
func (d *driver) reply(ref string) string {
	d.t.Helper()
	var status string
	d.wait("the reply to "+ref, func(evs []clientEv) bool {
		for _, e := range evs {
			if e.Ev == "reply" && e.Ref == ref {
				status = e.Status
				return true
			}
		}
		return false
	})
	return status
}

func (d *driver) stop(id string) { d.send(map[string]any{"op": "stop", "id": id}) }

// wait blocks until cond holds for the event log, failing the test after
// clusterWait. cond runs on every new event.
func (d *driver) wait(what string, cond func(evs []clientEv) bool) {
	d.t.Helper()
	deadline := time.After(clusterWait)
	for {
		d.mu.Lock()
		ok := cond(d.evs)
		changed := d.changed
		d.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			d.t.Fatalf("waited %v for %s", clusterWait, what)
		}
	}
}

// events returns a copy of the log so far.
func (d *driver) events() []clientEv {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.evs)
}

// lastSync is id's latest presence.list() (zero when none yet).
func lastSync(evs []clientEv, id string) clientEv {
	var last clientEv
	for _, e := range evs {
		if e.ID == id && e.Ev == "sync" {
			last = e
		}
	}
	return last
}

// waitPresence waits until every client in ids lists exactly users, one
// meta each, with the same phx_refs on every client.
func (d *driver) waitPresence(what string, ids []string, users ...string) {
	d.t.Helper()
	want := slices.Sorted(slices.Values(users))
	d.wait(what, func(evs []clientEv) bool {
		var first map[string][]string
		for _, id := range ids {
			s := lastSync(evs, id)
			if !slices.Equal(s.Keys, want) {
				return false
			}
			for _, refs := range s.Refs {
				if len(refs) != 1 {
					return false
				}
			}
			if first == nil {
				first = s.Refs
			}
			for k, refs := range s.Refs {
				if !slices.Equal(refs, first[k]) {
					return false
				}
			}
		}
		return true
	})
}

// got reports whether id received event on topic with a payload that
// contains fragment.
func got(evs []clientEv, id, event, fragment string) bool {
	return slices.ContainsFunc(evs, func(e clientEv) bool {
		return e.ID == id && e.Ev == "msg" && e.Event == event && strings.Contains(string(e.Payload), fragment)
	})
}

// waitMsg waits until every client in ids received event with fragment.
func (d *driver) waitMsg(ids []string, event, fragment string) {
	d.t.Helper()
	d.wait(fmt.Sprintf("%s %s on %v", event, fragment, ids), func(evs []clientEv) bool {
		for _, id := range ids {
			if !got(evs, id, event, fragment) {
				return false
			}
		}
		return true
	})
}
