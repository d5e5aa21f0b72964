package presence

import (
	stdjson "encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/serializer"
)

// presenceHandler is the example app's room channel, reduced to presence.
type presenceHandler struct {
	p  *Presence
	ts *testServer

	mu      sync.Mutex
	joinErr error // what Track returned when called from Join
}

func (ph *presenceHandler) Join(c *phx.Channel, pl phx.Payload) (any, error) {
	ph.ts.joined(c)
	var in struct {
		TrackInJoin bool `json:"track_in_join"`
	}
	_ = pl.Decode(&in)
	if in.TrackInJoin {
		err := ph.p.Track(c, "early", nil)
		ph.mu.Lock()
		ph.joinErr = err
		ph.mu.Unlock()
	}
	return nil, nil
}

func (ph *presenceHandler) AfterJoin(c *phx.Channel) {
	if err := ph.p.Track(c, c.Assigns().String("user_id"), map[string]any{"online_at": 1700000000000}); err != nil {
		panic(err)
	}
	if err := ph.p.PushState(c); err != nil {
		panic(err)
	}
}

func (ph *presenceHandler) HandleIn(c *phx.Channel, msg *phx.InMessage) (any, error) {
	uid := c.Assigns().String("user_id")
	switch msg.Event {
	case "sync": // the harness's settle
		return phx.Empty, nil
	case "set_status":
		var in struct {
			Status string `json:"status"`
		}
		_ = msg.Payload.Decode(&in)
		return phx.Empty, ph.p.Update(c, uid, Updater(func(m map[string]any) any {
			m["status"] = in.Status
			return m
		}))
	case "untrack":
		return phx.Empty, ph.p.Untrack(c, uid)
	case "crash":
		panic("crash requested")
	case "leave_me":
		return nil, phx.ErrStop
	}
	return nil, phx.ErrorReply(phx.Reason("unknown"))
}

// newPresenceServer serves room:* with presence on a loopback port; the
// heartbeat loop is off unless pcfg asks for it.
func newPresenceServer(t testing.TB, cfg phx.Config, pcfg Config) (*testServer, *Presence) {
	t.Helper()
	ts, p, stop := startPresenceServer(t, cfg, pcfg)
	t.Cleanup(stop)
	return ts, p
}

// startPresenceServer is newPresenceServer, stopped by stop (Presence,
// then the server) instead of at the end of the test.
func startPresenceServer(t testing.TB, cfg phx.Config, pcfg Config) (ts *testServer, p *Presence, stop func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.JoinDeadline == 0 {
		cfg.JoinDeadline = -1
	}
	if cfg.MaxChannels == 0 {
		cfg.MaxChannels = 10
	}
	cfg.Connect = connectAssigns
	srv := phx.NewServer(cfg)
	ts = &testServer{Server: srv, chans: make(map[string]*phx.Channel)}
	if pcfg.HeartbeatInterval == 0 {
		pcfg.HeartbeatInterval = -1
	}
	p, err := New(srv, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.handler = &presenceHandler{p: p, ts: ts}
	srv.Channel("room:*", ts.handler) // routes before serving
	addr, stopSrv := serve(t, srv)
	ts.addr = addr
	return ts, p, func() {
		_ = p.Close()
		stopSrv()
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// refNames replaces the opaque phx_ref values of frames by R1, R2, … in
// the order they first appear, so that frames compare as text.
type refNames struct {
	mu    sync.Mutex
	names map[string]string
}

var refRE = regexp.MustCompile(`"(phx_ref(?:_prev)?)":"([A-Za-z0-9_-]{7,16})"`)

func (r *refNames) canon(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		r.names = make(map[string]string)
	}
	return refRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := refRE.FindStringSubmatch(m)
		n, ok := r.names[sub[2]]
		if !ok {
			n = fmt.Sprintf("R%d", len(r.names)+1)
			r.names[sub[2]] = n
		}
		return fmt.Sprintf(`"%s":"%s"`, sub[1], n)
	})
}

// expectRef is expect with phx_ref values named by r.
func (h *harness) expectRef(r *refNames, want string) {
	h.t.Helper()
	if got := r.canon(h.next()); got != want {
		h.t.Fatalf("frame mismatch\n got: %s\nwant: %s", got, want)
	}
}

// waitLong is waitFor with a deadline for loaded machines.
func waitLong(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *Presence) numOwners() int {
	p.ownersMu.Lock()
	defer p.ownersMu.Unlock()
	return len(p.owners)
}

// tickNow ends topic's running window at once (as its timer would).
func (p *Presence) tickNow(topic string) {
	p.topicsMu.Lock()
	t := p.topics[topic]
	p.topicsMu.Unlock()
	if t != nil {
		p.tick(t)
	}
}

// quiet waits until no topic has changes waiting or a window open.
func (p *Presence) quiet(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.topicsMu.Lock()
		n := len(p.topics)
		p.topicsMu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("presence batches still open after 60s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// listText is List as sorted "key=meta" lines with canonical refs.
func listText(t *testing.T, p *Presence, r *refNames, topic string) string {
	t.Helper()
	st, err := p.List(topic)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for k, m := range st {
		for _, meta := range m.Metas {
			lines = append(lines, k+"="+string(meta))
		}
	}
	slices.Sort(lines) // before naming refs: names then follow key order
	for i, l := range lines {
		lines[i] = r.canon(l)
	}
	return strings.Join(lines, " ")
}

// clientView replays what phoenix.js's Presence does with presence_state
// and presence_diff frames (V2 JSON), for one channel instance: diffs wait
// until the state arrives, then apply in order.
type clientView struct {
	t       testing.TB
	ver     serializer.Version
	state   map[string][]viewMeta
	pending [][2]map[string][]viewMeta
	synced  bool
	// announced is every meta seen in a state or a join, by ref; leaves
	// are checked against it (a leave repeats the announced meta).
	announced map[string]string
}

type viewMeta struct {
	ref  string
	json string
}

func newClientView(t testing.TB) *clientView { return newClientViewV(t, serializer.V2) }

// newClientViewV is a view fed frames of serializer version ver.
func newClientViewV(t testing.TB, ver serializer.Version) *clientView {
	return &clientView{t: t, ver: ver, state: map[string][]viewMeta{}, announced: map[string]string{}}
}

// feed handles one frame; frames of other events are ignored.
func (v *clientView) feed(frame string) {
	v.t.Helper()
	m, err := serializer.DecodeServer(v.ver, []byte(frame), false)
	if err != nil {
		v.t.Fatalf("bad frame %s: %v", frame, err)
	}
	switch m.Event {
	case EventState:
		st := v.decodeGroup(m.Payload)
		v.syncState(st)
		for _, d := range v.pending {
			v.syncDiff(d[0], d[1])
		}
		v.pending, v.synced = nil, true
	case EventDiff:
		var d struct {
			Joins  stdjson.RawMessage `json:"joins"`
			Leaves stdjson.RawMessage `json:"leaves"`
		}
		if err := stdjson.Unmarshal(m.Payload, &d); err != nil || d.Joins == nil || d.Leaves == nil {
			v.t.Fatalf("bad presence_diff %s", frame)
		}
		joins, leaves := v.decodeGroup(d.Joins), v.decodeGroup(d.Leaves)
		for _, ms := range leaves {
			for _, lm := range ms {
				if a, ok := v.announced[lm.ref]; ok && a != lm.json {
					v.t.Fatalf("leave meta %s differs from the announced %s", lm.json, a)
				}
				// A ref in both lists (shown by a state, then gone within
				// the batch) must carry the same meta in both.
				for _, js := range joins {
					for _, j := range js {
						if j.ref == lm.ref && j.json != lm.json {
							v.t.Fatalf("ref %s joins as %s and leaves as %s", lm.ref, j.json, lm.json)
						}
					}
				}
			}
		}
		if !v.synced {
			v.pending = append(v.pending, [2]map[string][]viewMeta{joins, leaves})
			return
		}
		v.syncDiff(joins, leaves)
	}
}

func (v *clientView) decodeGroup(raw stdjson.RawMessage) map[string][]viewMeta {
	var g map[string]struct {
		Metas []stdjson.RawMessage `json:"metas"`
	}
	if err := stdjson.Unmarshal(raw, &g); err != nil {
		v.t.Fatalf("bad presence group %s: %v", raw, err)
	}
	out := make(map[string][]viewMeta, len(g))
	for k, e := range g {
		for _, m := range e.Metas {
			var r struct {
				Ref string `json:"phx_ref"`
			}
			_ = stdjson.Unmarshal(m, &r)
			out[k] = append(out[k], viewMeta{ref: r.Ref, json: string(m)})
		}
	}
	return out
}

func (v *clientView) syncState(st map[string][]viewMeta) {
	for _, ms := range st {
		for _, m := range ms {
			v.announced[m.ref] = m.json
		}
	}
	v.state = st
}

func (v *clientView) syncDiff(joins, leaves map[string][]viewMeta) {
	for k, ms := range joins {
		var kept []viewMeta
		for _, cur := range v.state[k] {
			if !slices.ContainsFunc(ms, func(m viewMeta) bool { return m.ref == cur.ref }) {
				kept = append(kept, cur)
			}
		}
		for _, m := range ms {
			v.announced[m.ref] = m.json
		}
		v.state[k] = append(kept, ms...)
	}
	for k, ms := range leaves {
		cur := v.state[k]
		cur = slices.DeleteFunc(cur, func(c viewMeta) bool {
			return slices.ContainsFunc(ms, func(m viewMeta) bool { return m.ref == c.ref })
		})
		if len(cur) == 0 {
			delete(v.state, k)
		} else {
			v.state[k] = cur
		}
	}
}

// text is the view as sorted "key=meta" lines with canonical refs.
func (v *clientView) text(r *refNames) string {
	var lines []string
	for k, ms := range v.state {
		for _, m := range ms {
			lines = append(lines, k+"="+r.canon(m.json))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, " ")
}
