package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// The presence item of the cluster suite: how long a dead node's presences
// take to leave the lists of the others. users clients join a room:* topic
// (the example app tracks each in Presence under its user id) on the victim
// node, one observer joins the same topic on another node and follows
// presence_state and presence_diff until it lists them all; the victim is
// then killed with SIGKILL (no leave is ever sent) and the observer times
// the leaves of all of its users. Clients here are plain goroutines over
// gobwas/ws (a thousand or so sockets, V2 text frames), not the engine: the
// measurement is one observer's view, not load.

// presenceResult is one measurement.
type presenceResult struct {
	Users        int     `json:"users"`
	JoinS        float64 `json:"join_s"`          // until the observer listed every user
	FirstLeaveS  float64 `json:"first_leave_s"`   // kill → first leave seen
	AllLeftS     float64 `json:"all_left_s"`      // kill → the last user's leave seen
	Left         int     `json:"left"`            // users seen leaving
	DupLeaves    int     `json:"dup_leaves"`      // leaves of users already gone
	OthersLeft   int     `json:"others_left"`     // leaves of users not on the victim
	TimedOut     bool    `json:"timed_out"`       // not every user left within the bound
	ObserverNode string  `json:"observer_node"`   //
	VictimNode   string  `json:"victim_node"`     //
	Topic        string  `json:"topic"`           //
	Heartbeat    string  `json:"heartbeat"`       // phxd's presence timing, as configured
	NodeTimeout  string  `json:"node_timeout"`    //
	UserSockets  int     `json:"user_sockets"`    // users connected and joined before the kill
	KillAt       string  `json:"kill_at"`         // wall clock of the kill
	Error        string  `json:"error,omitempty"` //
}

// phxConn is a minimal V2 Phoenix client over one WebSocket.
type phxConn struct {
	c   net.Conn
	wmu sync.Mutex
	ref int
}

// dialPhx connects to a socket URL with the token connect param.
func dialPhx(ctx context.Context, wsURL, token string) (*phxConn, error) {
	c, _, _, err := ws.Dialer{Timeout: 10 * time.Second}.Dial(ctx, wsURL+"?token="+token+"&vsn=2.0.0")
	if err != nil {
		return nil, err
	}
	return &phxConn{c: c}, nil
}

// send writes [join_ref, ref, topic, event, payload].
func (p *phxConn) send(joinRef, topic, event string, payload any) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.ref++
	var jr any
	if joinRef != "" {
		jr = joinRef
	}
	b, err := json.Marshal([]any{jr, strconv.Itoa(p.ref), topic, event, payload})
	if err != nil {
		return err
	}
	return wsutil.WriteClientText(p.c, b)
}

// phxMsg is a decoded V2 message.
type phxMsg struct {
	Topic, Event string
	Payload      json.RawMessage
}

// read reads the next text message.
func (p *phxConn) read() (phxMsg, error) {
	for {
		b, op, err := wsutil.ReadServerData(p.c)
		if err != nil {
			return phxMsg{}, err
		}
		if op != ws.OpText {
			continue
		}
		var a []json.RawMessage
		if err := json.Unmarshal(b, &a); err != nil || len(a) != 5 {
			return phxMsg{}, fmt.Errorf("bad frame %.100s", b)
		}
		var m phxMsg
		_ = json.Unmarshal(a[2], &m.Topic)
		_ = json.Unmarshal(a[3], &m.Event)
		m.Payload = a[4]
		return m, nil
	}
}

// join sends phx_join and waits for its ok reply (other messages before it
// go to seen).
func (p *phxConn) join(topic string, seen func(phxMsg)) error {
	if err := p.send("1", topic, "phx_join", map[string]any{}); err != nil {
		return err
	}
	for {
		m, err := p.read()
		if err != nil {
			return err
		}
		if m.Event == "phx_reply" && m.Topic == topic {
			var r struct{ Status string }
			_ = json.Unmarshal(m.Payload, &r)
			if r.Status != "ok" {
				return fmt.Errorf("join %s: %s", topic, m.Payload)
			}
			return nil
		}
		seen(m)
	}
}

func (p *phxConn) close() { _ = p.c.Close() }

// presenceView follows one topic's presence list as phoenix.js does, per
// key and meta count, and notes when watched keys join and leave.
type presenceView struct {
	mu      sync.Mutex
	metas   map[string]int
	watched map[string]bool // the victim's users
	present int             // watched keys listed now
	left    map[string]bool // watched keys that left since mark
	dups    int
	others  int
	first   time.Time // first leave of a watched key after mark
	last    time.Time // the leave that emptied the watched set
	marked  bool
	changed chan struct{}
}

func newPresenceView(watched map[string]bool) *presenceView {
	return &presenceView{metas: map[string]int{}, watched: watched, left: map[string]bool{},
		changed: make(chan struct{}, 1)}
}

// apply applies presence_state or presence_diff at time now.
func (v *presenceView) apply(m phxMsg, now time.Time) {
	type entry struct {
		Metas []json.RawMessage `json:"metas"`
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch m.Event {
	case "presence_state":
		var st map[string]entry
		if json.Unmarshal(m.Payload, &st) != nil {
			return
		}
		for k, e := range st {
			v.add(k, len(e.Metas))
		}
	case "presence_diff":
		var d struct{ Joins, Leaves map[string]entry }
		if json.Unmarshal(m.Payload, &d) != nil {
			return
		}
		for k, e := range d.Joins {
			v.add(k, len(e.Metas))
		}
		for k, e := range d.Leaves {
			v.remove(k, len(e.Metas), now)
		}
	default:
		return
	}
	select {
	case v.changed <- struct{}{}:
	default:
	}
}

func (v *presenceView) add(k string, n int) {
	before := v.metas[k]
	v.metas[k] = before + n
	if before == 0 && n > 0 && v.watched[k] {
		v.present++
	}
}

func (v *presenceView) remove(k string, n int, now time.Time) {
	before := v.metas[k]
	after := max(0, before-n)
	if after == 0 {
		delete(v.metas, k)
	} else {
		v.metas[k] = after
	}
	if !v.watched[k] {
		if v.marked {
			v.others++
		}
		return
	}
	if before == 0 || v.left[k] {
		v.dups++
		return
	}
	if after > 0 {
		return
	}
	v.present--
	if !v.marked {
		return
	}
	v.left[k] = true
	if v.first.IsZero() {
		v.first = now
	}
	if len(v.left) == len(v.watched) {
		v.last = now
	}
}

// mark starts counting leaves (the kill is next).
func (v *presenceView) mark() {
	v.mu.Lock()
	v.marked = true
	v.mu.Unlock()
}

// waitFor waits until cond holds (checked after every change) or the
// deadline passes.
func (v *presenceView) waitFor(deadline time.Time, cond func() bool) bool {
	for {
		v.mu.Lock()
		ok := cond()
		v.mu.Unlock()
		if ok {
			return true
		}
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		select {
		case <-v.changed:
		case <-time.After(min(d, 100*time.Millisecond)):
		}
	}
}

// presenceUsers names the victim's users: user:<prefix><i>.
func presenceUsers(prefix string, n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = prefix + strconv.Itoa(i)
	}
	return u
}

// measurePresenceClear joins users on the victim and an observer on the
// observer node, kills the victim, and times the leaves. kill is called
// once the observer lists every user; bound limits the wait for leaves.
func measurePresenceClear(observerURL, victimURL, topic string, users []string, kill func(), bound time.Duration) (*presenceResult, error) {
	res := &presenceResult{Users: len(users), Topic: topic}
	watched := map[string]bool{}
	for _, u := range users {
		watched[u] = true
	}
	v := newPresenceView(watched)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	obs, err := dialPhx(ctx, observerURL, "user:observer")
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	defer obs.close()
	if err := obs.join(topic, func(m phxMsg) { v.apply(m, time.Now()) }); err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	readErr := make(chan error, 1)
	go func() {
		for {
			m, err := obs.read()
			if err != nil {
				readErr <- err
				return
			}
			v.apply(m, time.Now())
		}
	}()
	stopBeat := make(chan struct{})
	defer close(stopBeat)
	go func() { // phoenix.js's heartbeat, so the observer is never taken for idle
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopBeat:
				return
			case <-t.C:
				_ = obs.send("", "phoenix", "heartbeat", map[string]any{})
			}
		}
	}()
	t0 := time.Now()
	conns, err := joinUsers(ctx, victimURL, topic, users)
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	res.UserSockets = len(conns)
	if err != nil {
		return res, err
	}
	if !v.waitFor(time.Now().Add(30*time.Second), func() bool { return v.present == len(users) }) {
		return res, fmt.Errorf("the observer listed %d of %d users within 30 s", v.present, len(users))
	}
	res.JoinS = time.Since(t0).Seconds()
	v.mark()
	killAt := time.Now()
	res.KillAt = killAt.UTC().Format(time.RFC3339Nano)
	kill()
	done := v.waitFor(killAt.Add(bound), func() bool { return !v.last.IsZero() })
	v.mu.Lock()
	defer v.mu.Unlock()
	res.Left, res.DupLeaves, res.OthersLeft, res.TimedOut = len(v.left), v.dups, v.others, !done
	if !v.first.IsZero() {
		res.FirstLeaveS = v.first.Sub(killAt).Seconds()
	}
	if !v.last.IsZero() {
		res.AllLeftS = v.last.Sub(killAt).Seconds()
	}
	select {
	case err := <-readErr:
		return res, fmt.Errorf("observer's socket: %w", err)
	default:
	}
	if !done {
		return res, fmt.Errorf("%d of %d users left within %v", res.Left, len(users), bound)
	}
	return res, nil
}

// joinUsers connects and joins every user (16 at a time); on error it
// returns the connections made so far.
func joinUsers(ctx context.Context, wsURL, topic string, users []string) ([]*phxConn, error) {
	var mu sync.Mutex
	var conns []*phxConn
	var firstErr error
	work := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for u := range work {
				c, err := dialPhx(ctx, wsURL, "user:"+u)
				if err == nil {
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					err = c.join(topic, func(phxMsg) {})
				}
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("user %s: %w", u, err))
					mu.Unlock()
					continue
				}
				go func() { // drain what the server sends until the socket dies
					for {
						if _, _, err := wsutil.ReadServerData(c.c); err != nil {
							return
						}
					}
				}()
			}
		})
	}
	for _, u := range users {
		work <- u
	}
	close(work)
	wg.Wait()
	return conns, firstErr
}

// cmpErr keeps the first error.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
