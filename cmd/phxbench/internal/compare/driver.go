package compare

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/serializer"
)

// The driver runs a scenario's clients in one fixed order, one action at a
// time: the first client (in scenario order) that can act performs its next
// step, then the driver waits for the step's expected frames (a reply) and
// for the servers to go quiet before anything else happens. A wait step
// lets the other clients act until its frames arrived; a barrier holds a
// client until every client that still has that barrier ahead reached it.
// Both sides therefore see the same sequence, and whatever a server sends
// lands in the step that caused it.

// Options tune a run.
type Options struct {
	Quiet          time.Duration // silence that ends a step
	MaxStep        time.Duration // bound on waiting for silence
	ConnectTimeout time.Duration
}

// maxClients bounds a compared scenario: it checks behaviour, not load.
const maxClients = 64

// maxOps bounds a client's steps once repeats are unrolled.
const maxOps = 10000

// vclient is one scenario client's progress.
type vclient struct {
	*client
	name  string
	gp    *scenario.GroupProg
	vars  scenario.TmplVars
	ops   []scenario.Op
	pc    int
	dead  bool // connect failed or the socket is gone
	joins map[string]string
	// a pending wait: its deadline
	waitUntil time.Time
	waiting   bool
}

// Check reports why a program cannot be compared (nil when it can).
func Check(p *scenario.Program) error {
	if len(p.Targets) != 1 {
		return fmt.Errorf("compare drives one server per side: the scenario's url names %d", len(p.Targets))
	}
	if p.Total > maxClients {
		return fmt.Errorf("compare runs at most %d clients (the scenario has %d): it checks behaviour, not load", maxClients, p.Total)
	}
	for _, gp := range p.Groups {
		if gp.LongPoll && gp.Auth.Str(&scenario.TmplVars{}) != "" {
			return fmt.Errorf("group %q: auth_token is only sent over WebSocket", gp.Name)
		}
		if _, err := unroll(gp.Ops, nil); err != nil {
			return fmt.Errorf("group %q: %w", gp.Name, err)
		}
	}
	return nil
}

// unroll flattens repeats into a list of ops.
func unroll(ops []scenario.Op, dst []scenario.Op) ([]scenario.Op, error) {
	for _, o := range ops {
		if o.Kind != scenario.OpRepeat {
			dst = append(dst, o)
			if len(dst) > maxOps {
				return nil, fmt.Errorf("more than %d steps once repeats are unrolled", maxOps)
			}
			continue
		}
		if o.ForDur > 0 || o.Times == 0 {
			return nil, errors.New(`a repeat needs a count; "for" durations are not deterministic`)
		}
		for range o.Times {
			var err error
			if dst, err = unroll(o.Body, dst); err != nil {
				return nil, err
			}
		}
	}
	return dst, nil
}

// Run drives the program against its URL and returns the recorded
// transcript.
func Run(p *scenario.Program, o Options) (*Transcript, error) {
	rec := newRecorder(p.Scenario.URL)
	var cs []*vclient
	for _, gp := range p.Groups {
		ops, err := unroll(gp.Ops, nil)
		if err != nil {
			return nil, err
		}
		for n := range gp.Count {
			name := fmt.Sprintf("%s#%d", gp.Name, n)
			rec.t.Clients = append(rec.t.Clients, name)
			c := &client{idx: len(cs), rec: rec, vsn: gp.Vsn, done: make(chan struct{}),
				replies: map[string]bool{}, counts: map[[2]string]int{}}
			cs = append(cs, &vclient{client: c, name: name, gp: gp, ops: ops, joins: map[string]string{},
				vars: scenario.TmplVars{ID: gp.First + n, N: n, Group: gp.Name}})
		}
	}
	d := &driver{p: p, o: o, rec: rec, cs: cs}
	err := d.loop()
	t := rec.stop()
	for _, c := range cs {
		if c.lp != nil {
			d.leaveAll(c)
		}
		c.shut(time.Second)
	}
	return t, err
}

type driver struct {
	p   *scenario.Program
	o   Options
	rec *recorder
	cs  []*vclient
}

// loop runs steps until every client is done.
func (d *driver) loop() error {
	for {
		if d.runOne() {
			continue
		}
		if d.releaseBarrier() {
			continue
		}
		var waiting []*vclient
		for _, c := range d.cs {
			if c.pc < len(c.ops) && c.waiting {
				waiting = append(waiting, c)
			}
		}
		if len(waiting) == 0 {
			for _, c := range d.cs {
				if c.pc < len(c.ops) {
					return fmt.Errorf("%s: stuck at a barrier no other client reaches", c.name)
				}
			}
			return nil
		}
		d.awaitWaits(waiting)
	}
}

// runOne performs the next step of the first client that can act.
func (d *driver) runOne() bool {
	for _, c := range d.cs {
		if c.pc >= len(c.ops) {
			continue
		}
		o := &c.ops[c.pc]
		switch o.Kind {
		case scenario.OpBarrier:
			continue
		case scenario.OpWait:
			if c.conn == nil && c.lp == nil && !c.dead {
				d.connect(c) // a client that waits first connects first
				return true
			}
			if !d.startWait(c, o) {
				continue
			}
			c.pc++
			return true
		}
		d.step(c, o)
		c.pc++
		return true
	}
	return false
}

// startWait checks a wait: true when its frames are there (they are
// consumed) or the client cannot receive any more.
func (d *driver) startWait(c *vclient, o *scenario.Op) bool {
	key := [2]string{c.gp.Topics[o.Topic].Str(&c.vars), o.Event}
	d.rec.mu.Lock()
	ok := c.counts[key] >= o.Count
	if ok {
		c.counts[key] -= o.Count
	}
	gone := c.closed
	d.rec.mu.Unlock()
	if ok || gone {
		c.waiting = false
		return true
	}
	if !c.waiting {
		c.waiting, c.waitUntil = true, time.Now().Add(o.Timeout)
	}
	return false
}

// awaitWaits blocks until a waiting client's frames came or the earliest
// wait deadline passed; an expired wait is recorded as its own step.
func (d *driver) awaitWaits(ws []*vclient) {
	first := ws[0]
	for _, c := range ws {
		if c.waitUntil.Before(first.waitUntil) {
			first = c
		}
	}
	done := d.rec.waitUntil(func() bool {
		for _, c := range ws {
			o := &c.ops[c.pc]
			if c.closed || c.counts[[2]string{c.gp.Topics[o.Topic].Str(&c.vars), o.Event}] >= o.Count {
				return true
			}
		}
		return false
	}, time.Until(first.waitUntil))
	if done {
		return
	}
	o := &first.ops[first.pc]
	topic := first.gp.Topics[o.Topic].Str(&first.vars)
	d.rec.begin(fmt.Sprintf("%s: wait %s x%d on %s", first.name, o.Event, o.Count, topic))
	d.rec.mu.Lock()
	got := first.counts[[2]string{topic, o.Event}]
	first.counts[[2]string{topic, o.Event}] = 0
	d.rec.mu.Unlock()
	first.info(fmt.Sprintf("wait timed out with %d of %d", got, o.Count))
	first.waiting = false
	first.pc++
}

// releaseBarrier lets the clients at a barrier go on once every client with
// that barrier still ahead stands at it.
func (d *driver) releaseBarrier() bool {
	for _, c := range d.cs {
		if c.pc >= len(c.ops) || c.ops[c.pc].Kind != scenario.OpBarrier {
			continue
		}
		b := c.ops[c.pc].Barrier
		ready := true
		for _, o := range d.cs {
			ahead := slices.ContainsFunc(o.ops[min(o.pc, len(o.ops)):], func(op scenario.Op) bool {
				return op.Kind == scenario.OpBarrier && op.Barrier == b
			})
			if ahead && (o.ops[o.pc].Kind != scenario.OpBarrier || o.ops[o.pc].Barrier != b) {
				ready = false
			}
		}
		if !ready {
			continue
		}
		for _, o := range d.cs {
			if o.pc < len(o.ops) && o.ops[o.pc].Kind == scenario.OpBarrier && o.ops[o.pc].Barrier == b {
				o.pc++
			}
		}
		return true
	}
	return false
}

// step performs one action as a step of the transcript.
func (d *driver) step(c *vclient, o *scenario.Op) {
	d.connect(c)
	topic := ""
	if o.Kind != scenario.OpSleep && o.Kind != scenario.OpClose {
		topic = c.gp.Topics[o.Topic].Str(&c.vars)
	}
	d.rec.begin(c.name + ": " + describe(o, topic))
	d.rec.mu.Lock()
	if c.closed {
		c.dead = true
	}
	d.rec.mu.Unlock()
	if c.dead && o.Kind != scenario.OpSleep {
		c.info("skipped: no open socket")
		return
	}
	switch o.Kind {
	case scenario.OpSleep:
		d.rec.quiet(max(o.Sleep, d.o.Quiet), o.Sleep+d.o.MaxStep)
		return
	case scenario.OpClose:
		if c.lp != nil {
			c.info("polling stopped")
			d.leaveAll(c)
		}
		c.shut(d.o.MaxStep)
	case scenario.OpJoin:
		// the join's ref is its join_ref, then and from now on
		ref := c.nextRef()
		err := c.send(ref, ref, topic, serializer.EventJoin, []byte(o.Payload.Str(&c.vars)), false)
		c.joins[topic] = ref
		d.awaitReply(c, ref, err, o.Timeout)
	case scenario.OpLeave:
		jr, ok := c.joins[topic]
		var joinRef any
		if ok {
			joinRef = jr
		}
		ref := c.nextRef()
		err := c.send(joinRef, ref, topic, serializer.EventLeave, []byte("{}"), false)
		delete(c.joins, topic)
		d.awaitReply(c, ref, err, o.Timeout)
	case scenario.OpPush:
		var joinRef any
		if jr, ok := c.joins[topic]; ok {
			joinRef = jr
		}
		c.vars.Seq++
		c.vars.Stamp = int64(c.vars.Seq)
		ref := c.nextRef()
		err := c.send(joinRef, ref, topic, o.Event, o.Payload.Expand(nil, &c.vars), o.Binary)
		if o.NoWait {
			if err != nil {
				c.info("not sent: " + err.Error())
			}
			break
		}
		d.awaitReply(c, ref, err, o.Timeout)
	}
	d.settle()
}

// connect opens a client's socket, as a step of its own, before its first
// action.
func (d *driver) connect(c *vclient) {
	if c.conn != nil || c.lp != nil || c.dead {
		return
	}
	d.rec.begin(c.name + ": connect")
	var ok bool
	tg := d.p.Targets[0] // one server per side (compare refuses URL lists)
	if c.gp.LongPoll {
		q := c.gp.Query(tg.LPPath, &c.vars)
		_, query, _ := strings.Cut(q, "?")
		ok = c.connectLP("http://"+tg.Host+q, "?"+query, d.o.ConnectTimeout)
	} else {
		q := c.gp.Query(tg.WSPath, &c.vars)
		_, query, _ := strings.Cut(q, "?")
		ok = c.connect("ws://"+tg.Host+q, "?"+query, c.gp.Auth.Str(&c.vars), d.o.ConnectTimeout)
	}
	c.dead = !ok
	d.settle()
}

// leaveAll leaves, unrecorded, every topic a LongPoll client joined before
// it stops polling: its session would otherwise hold the channels (and
// their presences) until the server's idle timeout, as a closed WebSocket
// never does, and leak into the next step or the next run.
func (d *driver) leaveAll(c *vclient) {
	d.rec.mu.Lock()
	gone := c.closed
	d.rec.mu.Unlock()
	if gone {
		return
	}
	d.rec.mute(c.idx)
	topics := make([]string, 0, len(c.joins))
	for t := range c.joins {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		ref := c.nextRef()
		if c.send(c.joins[t], ref, t, serializer.EventLeave, []byte("{}"), false) == nil {
			key := encodeJSON(ref)
			d.rec.waitUntil(func() bool { return c.replies[key] || c.closed }, d.o.MaxStep)
		}
		delete(c.joins, t)
	}
}

// awaitReply waits for the reply to ref, the socket's end, or timeout.
func (d *driver) awaitReply(c *vclient, ref string, err error, timeout time.Duration) {
	if err != nil {
		c.info("not sent: " + err.Error())
		return
	}
	key := encodeJSON(ref)
	if !d.rec.waitUntil(func() bool { return c.replies[key] || c.closed }, timeout) {
		c.info(fmt.Sprintf("no reply within %v", timeout))
	}
}

// settle waits for the servers to go quiet.
func (d *driver) settle() { d.rec.quiet(d.o.Quiet, d.o.MaxStep) }

// describe titles a step.
func describe(o *scenario.Op, topic string) string {
	switch o.Kind {
	case scenario.OpJoin:
		return "join " + topic
	case scenario.OpLeave:
		return "leave " + topic
	case scenario.OpPush:
		s := "push " + o.Event + " to " + topic
		if o.Binary {
			s += " (binary)"
		}
		return s
	case scenario.OpSleep:
		return fmt.Sprintf("sleep %v", o.Sleep)
	case scenario.OpClose:
		return "close"
	}
	return "?"
}
