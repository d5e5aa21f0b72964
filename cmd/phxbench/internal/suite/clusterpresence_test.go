package suite

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// A fake presence cluster for the presence measurement: nodes share one
// list of users per topic (as phxd nodes on Redis do); a join pushes
// presence_state to the joiner and a presence_diff to every member on any
// node; killing a node closes its sockets at once and, after a delay, the
// survivors broadcast its users' leaves in two batches.
type fakePresence struct {
	mu      sync.Mutex
	members map[*fakePConn]bool
	users   map[string]int // user → node
	nodes   []*fakePNode
	wg      sync.WaitGroup
}

type fakePNode struct {
	idx   int
	ln    net.Listener
	conns map[*fakePConn]bool
}

type fakePConn struct {
	c    net.Conn
	wmu  sync.Mutex
	node int
	user string
}

func (c *fakePConn) push(topic, event string, payload any) {
	b, _ := json.Marshal([]any{nil, nil, topic, event, payload})
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = wsutil.WriteServerText(c.c, b)
}

func startFakePresence(t *testing.T, n int) *fakePresence {
	t.Helper()
	fp := &fakePresence{members: map[*fakePConn]bool{}, users: map[string]int{}}
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nd := &fakePNode{idx: i, ln: ln, conns: map[*fakePConn]bool{}}
		fp.nodes = append(fp.nodes, nd)
		fp.wg.Go(func() { fp.accept(nd) })
	}
	t.Cleanup(func() {
		for i := range fp.nodes {
			fp.closeNode(i)
		}
		fp.wg.Wait()
	})
	return fp
}

func (fp *fakePresence) url(i int) string {
	return "ws://" + fp.nodes[i].ln.Addr().String() + "/socket/websocket"
}

func (fp *fakePresence) accept(nd *fakePNode) {
	for {
		c, err := nd.ln.Accept()
		if err != nil {
			return
		}
		pc := &fakePConn{c: c, node: nd.idx}
		fp.mu.Lock()
		nd.conns[pc] = true
		fp.mu.Unlock()
		fp.wg.Go(func() { fp.serve(pc) })
	}
}

func (fp *fakePresence) serve(pc *fakePConn) {
	defer pc.c.Close()
	up := ws.Upgrader{OnRequest: func(uri []byte) error {
		u, err := url.ParseRequestURI(string(uri))
		if err == nil {
			pc.user, _ = strings.CutPrefix(u.Query().Get("token"), "user:")
		}
		return err
	}}
	if _, err := up.Upgrade(pc.c); err != nil {
		return
	}
	for {
		b, err := wsutil.ReadClientText(pc.c)
		if err != nil {
			return
		}
		var m []json.RawMessage
		if json.Unmarshal(b, &m) != nil || len(m) != 5 {
			return
		}
		var topic, event string
		_ = json.Unmarshal(m[2], &topic)
		_ = json.Unmarshal(m[3], &event)
		reply, _ := json.Marshal([]any{m[0], m[1], topic, "phx_reply", map[string]any{"status": "ok", "response": map[string]any{}}})
		pc.wmu.Lock()
		_ = wsutil.WriteServerText(pc.c, reply)
		pc.wmu.Unlock()
		if event == "phx_join" {
			fp.join(pc, topic)
		}
	}
}

func metas(users ...string) map[string]any {
	m := map[string]any{}
	for _, u := range users {
		m[u] = map[string]any{"metas": []any{map[string]any{"phx_ref": "r" + u}}}
	}
	return m
}

func (fp *fakePresence) join(pc *fakePConn, topic string) {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	var listed []string
	for u := range fp.users {
		listed = append(listed, u)
	}
	fp.users[pc.user] = pc.node
	fp.members[pc] = true
	pc.push(topic, "presence_state", metas(listed...))
	for m := range fp.members {
		m.push(topic, "presence_diff", map[string]any{"joins": metas(pc.user), "leaves": map[string]any{}})
	}
}

// closeNode closes node i's listener and sockets.
func (fp *fakePresence) closeNode(i int) {
	nd := fp.nodes[i]
	_ = nd.ln.Close()
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for c := range nd.conns {
		_ = c.c.Close()
		delete(fp.members, c)
	}
}

// kill closes node i; after delay, its users leave in two diffs (sweep
// false: they never leave).
func (fp *fakePresence) kill(i int, topic string, delay time.Duration, sweep bool) {
	fp.closeNode(i)
	if !sweep {
		return
	}
	time.Sleep(delay)
	fp.mu.Lock()
	defer fp.mu.Unlock()
	var gone []string
	for u, n := range fp.users {
		if n == i {
			gone = append(gone, u)
			delete(fp.users, u)
		}
	}
	half := len(gone) / 2
	for _, batch := range [][]string{gone[:half], gone[half:]} {
		for m := range fp.members {
			m.push(topic, "presence_diff", map[string]any{"joins": map[string]any{}, "leaves": metas(batch...)})
		}
		fp.mu.Unlock()
		time.Sleep(delay / 2)
		fp.mu.Lock()
	}
}

func TestMeasurePresenceClear(t *testing.T) {
	fp := startFakePresence(t, 3)
	users := presenceUsers("u", 40)
	const delay = 200 * time.Millisecond
	res, err := measurePresenceClear(fp.url(0), fp.url(2), "room:t", users, func() { go fp.kill(2, "room:t", delay, true) }, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "users", res.Users, 40)
	check.Eq(t, "user sockets", res.UserSockets, 40)
	check.Eq(t, "left", res.Left, 40)
	check.Eq(t, "dups", res.DupLeaves, 0)
	check.Eq(t, "others", res.OthersLeft, 0)
	if res.FirstLeaveS < delay.Seconds() || res.AllLeftS < res.FirstLeaveS+0.05 {
		t.Errorf("first leave %.3f s, all left %.3f s; want ≥ %v, then the second batch later", res.FirstLeaveS, res.AllLeftS, delay)
	}
}

// Users that never leave: the measurement ends at its bound, saying how
// many left.
func TestMeasurePresenceClearBound(t *testing.T) {
	fp := startFakePresence(t, 2)
	users := presenceUsers("v", 5)
	res, err := measurePresenceClear(fp.url(0), fp.url(1), "room:t", users, func() { fp.kill(1, "room:t", 0, false) }, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "0 of 5 users left") {
		t.Fatalf("err %v", err)
	}
	check.Eq(t, "timed out", res.TimedOut, true)
}

// presenceView counts metas per key as phoenix.js does: a key leaves when
// its last meta does; a leave of a key already gone is a duplicate.
func TestPresenceView(t *testing.T) {
	v := newPresenceView(map[string]bool{"a": true, "b": true})
	diff := func(joins, leaves map[string]any) phxMsg {
		b, _ := json.Marshal(map[string]any{"joins": joins, "leaves": leaves})
		return phxMsg{Event: "presence_diff", Payload: b}
	}
	st, _ := json.Marshal(metas("a", "x"))
	now := time.Now()
	v.apply(phxMsg{Event: "presence_state", Payload: st}, now)
	v.apply(diff(metas("b"), nil), now)
	v.apply(diff(map[string]any{"a": map[string]any{"metas": []any{1}}}, nil), now) // a second meta of a
	check.Eq(t, "present", v.present, 2)
	v.mark()
	v.apply(diff(nil, metas("a")), now.Add(time.Second)) // one of two metas
	check.Eq(t, "a still listed", len(v.left), 0)
	v.apply(diff(nil, metas("a", "x")), now.Add(2*time.Second))
	v.apply(diff(nil, metas("a")), now.Add(3*time.Second)) // duplicate
	v.apply(diff(nil, metas("b")), now.Add(4*time.Second))
	check.Eq(t, "left", len(v.left), 2)
	check.Eq(t, "dups", v.dups, 1)
	check.Eq(t, "others", v.others, 1)
	check.Eq(t, "first", v.first.Sub(now), 2*time.Second)
	check.Eq(t, "last", v.last.Sub(now), 4*time.Second)
	check.Eq(t, "present after", v.present, 0)
}
