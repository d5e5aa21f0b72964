package engine

import (
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
	"github.com/phxgo/phxgo/serializer"
)

// A client is one virtual phoenix.js-like socket. Its steps run as a small
// interpreter: a stack of frames (the group's steps, then each active
// repeat body) and at most one thing it is blocked on.

type cstate uint8

const (
	stIdle cstate = iota
	stConnecting
	stHandshaking
	stOpen
	stFailed
	stClosed // closed by a close step or after the run
)

type blockKind uint8

const (
	blockNone     blockKind = iota
	blockReply              // a blocking join/push/leave awaiting its reply
	blockInflight           // max_inflight requests outstanding
	blockWait               // a wait step
	blockSleep              // sleep, jitter or repeat pacing
	blockBarrier            // a barrier not yet released
	blockDrain              // steps done, replies outstanding
	blockStopped            // the run ended before the steps did
)

type reqKind uint8

const (
	reqJoin reqKind = iota
	reqPush
	reqLeave
	reqHeartbeat
)

// pending is a request awaiting its reply.
type pending struct {
	ref      uint64
	sent     int64
	kind     reqKind
	topic    int
	blocking bool
	stamp    int64 // publish send time when the payload carried {{stamp}}
	o        *scenario.Op
}

// topicState is a client's view of one of its group's topics, and the
// current delivery window (join ok → leave) for loss accounting.
type topicState struct {
	name    string
	joinRef uint64
	joined  bool
	leaving bool  // phx_leave sent, reply not yet received
	start   int64 // join reply received
	end     int64 // phx_leave sent
	recv    int64
}

// counts reports whether a stamped message sent at ts belongs to the
// window: sent after the join completed and before any leave was sent.
// Messages sent before the leave still count until its reply arrives,
// since the server delivers them first.
func (t *topicState) counts(ts int64) bool {
	return t.joined && ts >= t.start && (!t.leaving || ts <= t.end)
}

// frame is an activation of a step list.
type frame struct {
	ops   []scenario.Op
	pc    int
	iter  int
	start int64
	rep   *scenario.Op
}

type client struct {
	id, n     int
	g         *groupRT
	ti        int // index of the server it connects to (Program.Targets)
	fd        int
	lp        *lpConn // LongPoll connection, when the group uses LongPoll
	state     cstate
	gen       uint32
	vars      scenario.TmplVars
	key       string
	connStart int64
	in        []byte
	out       []byte
	frag      []byte
	fragOp    ws.OpCode
	deflate   uint8 // dfOn, dfTakeover, dfFrag (deflate.go)
	ref       uint64
	topics    []topicState
	pending   []pending
	npush     int // non-blocking pushes outstanding
	waits     []int32
	stack     []frame
	block     blockKind
	blockRef  uint64
	barrier   int
	waitOp    *scenario.Op
	arrived   uint64 // barriers this client has reached (or failed before)
	done      bool
}

// newClient prepares client n of group g (global id), not yet connected;
// it will connect to target ti.
func newClient(g *groupRT, id, n, ti int) *client {
	c := &client{id: id, n: n, g: g, fd: -1, ti: ti}
	c.vars = scenario.TmplVars{ID: id, N: n, Group: g.gp.Name}
	c.topics = make([]topicState, len(g.gp.Topics))
	for i := range c.topics {
		c.topics[i].name = g.gp.Topics[i].Str(&c.vars)
	}
	if len(g.gp.WaitKeys) > 0 {
		c.waits = make([]int32, len(g.gp.WaitKeys))
	}
	return c
}

// unblock clears the block and invalidates its timer.
func (c *client) unblock() {
	c.block = blockNone
	c.gen++
}

// stopSteps makes the client run no further steps (end of run).
func (c *client) stopSteps() {
	c.unblock()
	c.block = blockStopped
}

// opened finishes the upgrade: record it and start the steps.
func (e *engine) opened(c *client) {
	e.connecting--
	e.st.live.connecting.Add(-1)
	e.st.live.open.Add(1)
	c.state = stOpen
	e.st.c.Connected++
	e.st.record("connect", e.now-c.connStart, e.now)
	e.st.count("connects", e.now)
	e.st.marks.LastConnect = e.now
	if hb := int64(*e.p.Scenario.Heartbeat); hb > 0 {
		e.addTimer(timer{at: e.now + hb/2 + e.rng.Int64N(hb/2+1), c: c, kind: tHeartbeat})
	}
	if e.phase != phRun {
		c.stopSteps()
		return
	}
	c.stack = append(c.stack[:0], frame{ops: c.g.gp.Ops, start: e.now})
	e.advance(c)
}

// fail counts an error, closes the client and treats it as done.
func (e *engine) fail(c *client, kind string) {
	if c.state == stFailed || c.state == stClosed {
		return
	}
	connectPhase := c.state != stOpen || strings.HasPrefix(kind, "connect")
	e.st.err(kind)
	if connectPhase {
		e.st.c.ConnectFailed++
	} else {
		e.st.c.Failed++
	}
	e.st.live.failed.Add(1)
	for _, p := range c.pending {
		if p.kind != reqHeartbeat {
			e.pendingAll--
		}
	}
	c.pending = nil
	e.closeFD(c)
	c.state = stFailed
	c.unblock()
	c.endWindows(e)
	for b := range c.g.gp.Barriers {
		e.arrive(c, b)
	}
	e.clientDone(c)
}

// endWindows closes the client's open delivery windows.
func (c *client) endWindows(e *engine) {
	for i := range c.topics {
		e.endWindow(c, i)
	}
}

// endWindow records topic i's delivery window as ending now, or when its
// leave was sent.
func (e *engine) endWindow(c *client, i int) {
	t := &c.topics[i]
	if !t.joined {
		return
	}
	end := e.now
	if t.leaving {
		end = t.end
	}
	e.st.window(t.name, t.start, end, t.recv)
	t.joined, t.leaving, t.recv = false, false, 0
}

// advance runs steps until the client blocks, finishes or fails.
func (e *engine) advance(c *client) {
	for c.state == stOpen && c.block == blockNone && len(c.stack) > 0 {
		f := &c.stack[len(c.stack)-1]
		if f.pc < len(f.ops) {
			e.exec(c, f)
			continue
		}
		if len(c.stack) == 1 {
			e.finishSteps(c)
			return
		}
		e.loopEnd(c, f)
	}
}

// exec runs the op at f.pc. It advances f.pc unless the op must be retried.
func (e *engine) exec(c *client, f *frame) {
	o := &f.ops[f.pc]
	switch o.Kind {
	case scenario.OpJoin:
		f.pc++
		e.sendJoin(c, o)
	case scenario.OpPush:
		if c.npush >= c.g.gp.Inflight {
			c.block = blockInflight
			return
		}
		f.pc++
		e.sendPush(c, o)
	case scenario.OpWait:
		f.pc++
		e.startWait(c, o)
	case scenario.OpSleep:
		f.pc++
		d := int64(o.Sleep)
		if o.Jitter > 0 {
			d += e.rng.Int64N(int64(o.Jitter))
		}
		e.sleepUntil(c, e.now+d)
	case scenario.OpRepeat:
		f.pc++
		c.stack = append(c.stack, frame{ops: o.Body, start: e.now, rep: o})
	case scenario.OpBarrier:
		f.pc++
		e.arrive(c, o.Barrier)
		if !e.released[o.Barrier] {
			c.block, c.barrier = blockBarrier, o.Barrier
		}
	case scenario.OpLeave:
		f.pc++
		e.sendLeave(c, o)
	case scenario.OpClose:
		f.pc++
		c.stack = c.stack[:1]
		c.stack[0].pc = len(c.stack[0].ops)
		e.sendClose(c)
		e.closeFD(c)
		c.state = stClosed
		c.endWindows(e)
		e.clientDone(c)
	}
}

// loopEnd ends one iteration of the repeat frame f: pop it when its count
// or time is up, otherwise restart its body, paced by every.
func (e *engine) loopEnd(c *client, f *frame) {
	f.iter++
	o := f.rep
	next := f.start + int64(f.iter)*int64(o.Every)
	stop := o.Times > 0 && f.iter >= o.Times
	if o.ForDur > 0 && max(next, e.now) >= f.start+int64(o.ForDur) {
		stop = true
	}
	if stop {
		c.stack = c.stack[:len(c.stack)-1]
		return
	}
	f.pc = 0
	if next > e.now {
		e.sleepUntil(c, next)
	}
}

// sleepUntil blocks c until at.
func (e *engine) sleepUntil(c *client, at int64) {
	if at <= e.now {
		return
	}
	c.block = blockSleep
	e.addTimer(timer{at: at, c: c, gen: c.gen, kind: tStep})
}

// finishSteps ends the script: wait for outstanding replies, then done.
func (e *engine) finishSteps(c *client) {
	if c.npush > 0 {
		c.block = blockDrain
		return
	}
	c.stack = c.stack[:0]
	e.clientDone(c)
}

// stepTimer handles the timer of the current block: a sleep ends, a wait
// or blocking request times out.
func (e *engine) stepTimer(c *client) {
	switch c.block {
	case blockSleep:
		c.unblock()
	case blockWait:
		o := c.waitOp
		e.st.err("wait_timeout:" + o.Event)
		e.st.c.WaitTimeouts++
		c.waits[o.WaitKey] = 0
		c.unblock()
	case blockReply:
		p, ok := c.takePending(e, c.blockRef)
		c.unblock()
		if ok {
			e.st.err("timeout:" + reqName(p))
			e.st.c.Timeouts++
			switch p.kind {
			case reqJoin:
				e.fail(c, "join_failed")
				return
			case reqLeave:
				e.endWindow(c, p.topic)
			}
		}
	default:
		return
	}
	e.advance(c)
}

// startWait consumes count matching events, blocking until they arrive.
func (e *engine) startWait(c *client, o *scenario.Op) {
	if int(c.waits[o.WaitKey]) >= o.Count {
		c.waits[o.WaitKey] -= int32(o.Count)
		return
	}
	c.block, c.waitOp = blockWait, o
	e.addTimer(timer{at: e.now + int64(o.Timeout), c: c, gen: c.gen, kind: tStep})
}

// nextRef returns the client's next ref.
func (c *client) nextRef() uint64 {
	c.ref++
	return c.ref
}

// request sends one client message and records it as pending.
func (e *engine) request(c *client, m *serializer.Message, p pending, timeout time.Duration) {
	frame, binary, err := serializer.EncodeClient(c.g.gp.Vsn, e.pbuf[:0], m)
	e.pbuf = frame[:0]
	if err != nil {
		e.fail(c, "encode:"+err.Error())
		return
	}
	op := ws.OpText
	if binary {
		op = ws.OpBinary
	}
	p.sent = e.now
	c.pending = append(c.pending, p)
	if p.kind != reqHeartbeat {
		e.pendingAll++
	}
	switch {
	case p.blocking:
		c.block, c.blockRef = blockReply, p.ref
		e.addTimer(timer{at: e.now + int64(timeout), c: c, gen: c.gen, kind: tStep})
	default:
		e.addTimer(timer{at: e.now + int64(timeout), c: c, kind: tReply, ref: p.ref})
	}
	e.sendFrame(c, op, frame)
}

// sendJoin sends phx_join; the join ref is also the join_ref.
func (e *engine) sendJoin(c *client, o *scenario.Op) {
	ref := c.nextRef()
	t := &c.topics[o.Topic]
	t.joinRef = ref
	var jr [24]byte
	raw := wire.AppendRef(jr[:0], ref)
	e.tbuf = o.Payload.Expand(e.tbuf[:0], &c.vars)
	m := serializer.Message{JoinRef: raw, Ref: raw, Topic: t.name, Event: serializer.EventJoin, Payload: e.tbuf}
	e.request(c, &m, pending{ref: ref, kind: reqJoin, topic: o.Topic, blocking: true, o: o}, o.Timeout)
}

// sendLeave sends phx_leave; the delivery window stays open for what the
// server sent before it, until the reply.
func (e *engine) sendLeave(c *client, o *scenario.Op) {
	t := &c.topics[o.Topic]
	ref := c.nextRef()
	var a, b [24]byte
	m := serializer.Message{JoinRef: wire.AppendRef(a[:0], t.joinRef), Ref: wire.AppendRef(b[:0], ref),
		Topic: t.name, Event: serializer.EventLeave, Payload: []byte("{}")}
	if t.joined {
		t.leaving, t.end = true, e.now
	}
	e.request(c, &m, pending{ref: ref, kind: reqLeave, topic: o.Topic, blocking: true, o: o}, o.Timeout)
}

// sendPush sends a push; a stamped one records its send time.
func (e *engine) sendPush(c *client, o *scenario.Op) {
	t := &c.topics[o.Topic]
	ref := c.nextRef()
	c.vars.Seq++
	c.vars.Stamp = e.now
	e.tbuf = o.Payload.Expand(e.tbuf[:0], &c.vars)
	var a, b [24]byte
	m := serializer.Message{Ref: wire.AppendRef(b[:0], ref), Topic: t.name, Event: o.Event, Payload: e.tbuf, Binary: o.Binary}
	if t.joinRef != 0 {
		m.JoinRef = wire.AppendRef(a[:0], t.joinRef)
	}
	p := pending{ref: ref, kind: reqPush, topic: o.Topic, blocking: !o.NoWait, o: o}
	if o.Stamped {
		p.stamp = e.now
		if e.st.marks.FirstPublish == 0 {
			e.st.marks.FirstPublish = e.now
		}
	}
	if e.st.marks.FirstPush == 0 {
		e.st.marks.FirstPush = e.now
	}
	if o.NoWait {
		c.npush++
	}
	e.st.c.PushesSent++
	e.st.live.pushes.Add(1)
	e.request(c, &m, p, o.Timeout)
}

// heartbeat sends phoenix.js's heartbeat and schedules the next one.
func (e *engine) heartbeat(c *client) {
	ref := c.nextRef()
	var b [24]byte
	m := serializer.Message{Ref: wire.AppendRef(b[:0], ref), Topic: serializer.TopicPhoenix,
		Event: serializer.EventHeartbeat, Payload: []byte("{}")}
	e.st.c.Heartbeats++
	e.addTimer(timer{at: e.now + int64(*e.p.Scenario.Heartbeat), c: c, kind: tHeartbeat})
	e.request(c, &m, pending{ref: ref, kind: reqHeartbeat}, e.p.Scenario.ReplyTimeout.D())
}

// takePending removes and returns the request with ref.
func (c *client) takePending(e *engine, ref uint64) (pending, bool) {
	for i, p := range c.pending {
		if p.ref == ref {
			last := len(c.pending) - 1
			c.pending[i] = c.pending[last]
			c.pending = c.pending[:last]
			if p.kind != reqHeartbeat {
				e.pendingAll--
			}
			if p.kind == reqPush && !p.blocking {
				c.npush--
			}
			return p, true
		}
	}
	return pending{}, false
}

// reqName names a request for error kinds.
func reqName(p pending) string {
	switch p.kind {
	case reqJoin:
		return "join"
	case reqLeave:
		return "leave"
	case reqHeartbeat:
		return "heartbeat"
	}
	return p.o.Event
}

// replyTimeout expires a non-blocking request.
func (e *engine) replyTimeout(c *client, ref uint64) {
	p, ok := c.takePending(e, ref)
	if !ok {
		return
	}
	e.st.err("timeout:" + reqName(p))
	e.st.c.Timeouts++
	e.resume(c)
}

// resume unblocks a client waiting for room in flight or for its last
// replies.
func (e *engine) resume(c *client) {
	switch {
	case c.block == blockInflight && c.npush < c.g.gp.Inflight,
		c.block == blockDrain && c.npush == 0:
		c.unblock()
		e.advance(c)
	}
}
