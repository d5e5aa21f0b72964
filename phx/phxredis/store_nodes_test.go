package phxredis

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/redis/go-redis/v9"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/presence"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// Helpers of the presence-level tests: several "nodes" in one process,
// each a phx.Server with its own Presence and its own PresenceStore client
// on one Redis, sharing one in-memory PubSub so that their diffs cross.

// stNode is one node.
type stNode struct {
	name   string
	srv    *phx.Server
	p      *presence.Presence
	client *redis.Client
	store  *PresenceStore
	addr   string

	stopOnce sync.Once
	stopSrv  func()
}

// stHandler tracks each joiner under its user_id, with a meta naming its
// node, and pushes the state.
type stHandler struct{ n *stNode }

func (h stHandler) Join(*phx.Channel, phx.Payload) (any, error) { return nil, nil }

func (h stHandler) AfterJoin(c *phx.Channel) {
	if err := h.n.p.Track(c, c.Assigns().String("user_id"), map[string]any{"node": h.n.name}); err != nil {
		return // the channel ended meanwhile, or the node was killed
	}
	_ = h.n.p.PushState(c)
}

func (h stHandler) HandleIn(*phx.Channel, *phx.InMessage) (any, error) { return phx.Empty, nil }

// stStartNode starts node name on rs, publishing on ps; it is shut down
// gracefully when the test ends unless it was killed.
func stStartNode(t testing.TB, rs *redistest.Server, ps phx.PubSub, name string, cfg presence.Config) *stNode {
	t.Helper()
	n := &stNode{name: name, client: stClient(t, rs)}
	n.store = stStore(t, n.client, "nodes")
	n.srv = phx.NewServer(phx.Config{PubSub: ps, Logger: stLogger(), JoinDeadline: -1,
		Connect: func(_ context.Context, info *phx.ConnectInfo) (phx.Assigns, error) {
			return phx.NewAssigns("user_id", info.Params.Get("user_id")), nil
		}})
	n.srv.Channel("room:*", stHandler{n})
	cfg.Store, cfg.Node = n.store, name
	p, err := presence.New(n.srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.p = p
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = n.srv.Serve(ln, nil) }()
	n.addr = ln.Addr().String()
	n.stopSrv = func() {
		_ = n.srv.Close()
		_ = ln.Close()
		<-served
	}
	t.Cleanup(func() {
		n.stopOnce.Do(n.stopSrv)
		_ = n.p.Close() // fails harmlessly for a killed node: its client is closed
	})
	return n
}

// kill makes n vanish as kill -9 would: it stops talking to Redis at
// once (its client is closed: no leave, no heartbeat reaches the store)
// and its sockets drop. Its Presence is left unclosed until the test ends.
func (n *stNode) kill() {
	_ = n.client.Close()
	n.stopOnce.Do(n.stopSrv)
}

// stDial connects user to n and joins topics; the connection reads (and
// drops) what it gets until the test ends or the node goes away.
func stDial(t testing.TB, n *stNode, user string, topics ...string) {
	t.Helper()
	q := url.Values{"vsn": {"2.0.0"}, "user_id": {user}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+n.addr+"/socket/websocket?"+q.Encode())
	if err != nil {
		t.Fatalf("dial %s: %v", n.name, err)
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rw := struct {
			io.Reader
			io.Writer
		}{r, conn}
		for {
			if _, _, err := wsutil.ReadServerData(rw); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { _ = conn.Close(); <-done })
	for i, topic := range topics {
		ref := string(rune('1' + i))
		frame := `["` + ref + `","` + ref + `","` + topic + `","phx_join",{}]`
		if err := wsutil.WriteClientMessage(conn, ws.OpText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
}

// stObserver counts, per phx_ref, the joins and leaves of the
// presence_diffs broadcast on the shared PubSub (each broadcast reaches it
// once, whichever node sent it).
type stObserver struct {
	id uint64

	mu             sync.Mutex
	joins, leaves  map[string]int
	bad            []string
	leaveBroadcast int
}

func stObserve(t testing.TB, ps phx.PubSub, topics ...string) *stObserver {
	o := &stObserver{id: pubsub.NewSubscriberID(), joins: map[string]int{}, leaves: map[string]int{}}
	for _, topic := range topics {
		ps.Subscribe(topic, o)
		t.Cleanup(func() { ps.Unsubscribe(topic, o) })
	}
	return o
}

func (o *stObserver) SubscriberID() uint64 { return o.id }

type stGroup map[string]struct {
	Metas []struct {
		Ref string `json:"phx_ref"`
	} `json:"metas"`
}

func (o *stObserver) Deliver(b *phx.Broadcast) {
	if b.Event != presence.EventDiff {
		return
	}
	var d struct{ Joins, Leaves stGroup }
	err := json.Unmarshal(b.Payload, &d)
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.bad = append(o.bad, string(b.Payload))
		return
	}
	for _, g := range d.Joins {
		for _, m := range g.Metas {
			o.joins[m.Ref]++
		}
	}
	if len(d.Leaves) > 0 {
		o.leaveBroadcast++
	}
	for _, g := range d.Leaves {
		for _, m := range g.Metas {
			o.leaves[m.Ref]++
		}
	}
}

func (o *stObserver) leavesOf(ref string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.leaves[ref]
}

// stKeys lists topic as n's Presence shows it: key → metas' nodes, sorted.
func stKeys(t testing.TB, n *stNode, topic string) map[string]string {
	t.Helper()
	st, err := n.p.List(topic)
	if err != nil {
		t.Fatalf("List(%s) on %s: %v", topic, n.name, err)
	}
	out := map[string]string{}
	for k, m := range st {
		var nodes []string
		for _, raw := range m.Metas {
			var meta struct{ Node string }
			if err := json.Unmarshal(raw, &meta); err != nil {
				t.Fatalf("bad meta %s", raw)
			}
			nodes = append(nodes, meta.Node)
		}
		sort.Strings(nodes)
		out[k] = strings.Join(nodes, ",")
	}
	return out
}

// stWait polls cond until it holds (60s at most: loaded machines).
func stWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 60s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stRefsOf lists the refs node owns in topic, read from store s.
func stRefsOf(t testing.TB, s *PresenceStore, topic, node string) []string {
	t.Helper()
	es, err := s.List(stCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Node == node {
			out = append(out, e.Ref)
		}
	}
	return out
}
