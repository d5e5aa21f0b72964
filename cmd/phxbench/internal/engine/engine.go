package engine

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
	"golang.org/x/sys/unix"
)

// The engine drives this process's share of the virtual clients from one
// goroutine: an epoll loop over non-blocking sockets, a timer heap, and the
// step interpreter (client.go). No goroutine per socket, no locks; the only
// state shared with other goroutines is the atomic live counters and the
// control channel.

// phase is where the run is.
type phase uint8

const (
	phRun    phase = iota // clients connect and run their steps
	phHold                // all done (or deadline): keep sockets open for Hold
	phDrain               // wait for in-flight deliveries and replies
	phFinish              // close everything and report
)

// maxConnectsPerTurn bounds the connects one loop turn starts, so that a
// burst of connect(2) calls does not delay the handling of ready sockets.
const maxConnectsPerTurn = 32

// quietGap is how long nothing must arrive before the drain ends early.
const quietGap = 250 * time.Millisecond

// ctlMsg is a message from the coordinator.
type ctlMsg struct {
	Release *int `json:"release,omitempty"` // barrier released everywhere
	End     bool `json:"end,omitempty"`     // every client everywhere is done
	Stop    bool `json:"stop,omitempty"`    // interrupted: wrap up now
}

// workerEvent is a message to the coordinator.
type workerEvent struct {
	Worker   int           `json:"-"`
	Arrive   *int          `json:"arrive,omitempty"`
	Done     bool          `json:"done,omitempty"`
	Progress *LiveSnapshot `json:"progress,omitempty"`
	Result   *workerResult `json:"result,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// engineOptions are what a worker needs besides the program.
type engineOptions struct {
	worker, procs int
	t0            int64 // run start (unix ns), shared by all workers
	step          time.Duration
	src           [][4]byte
	capture       bool // keep one stamped broadcast frame for the baseline
}

// groupRT is a group's local clients and ramp state.
type groupRT struct {
	gp    *scenario.GroupProg
	local []*client
	next  int
	rate  float64 // this process's share
}

type engine struct {
	p      *scenario.Program
	o      engineOptions
	ep     int
	events []unix.EpollEvent
	byFD   []*client
	groups []*groupRT
	all    []*client
	timers timerHeap
	rbuf   []byte
	wbuf   []byte // WebSocket frame being written
	pbuf   []byte // Phoenix message being encoded
	tbuf   []byte // payload template being expanded
	ibuf   []byte // the message being inflated (deflate.go)
	infl   wire.Inflater
	window map[*client][]byte // deflate with context takeover: the last 32 KiB each such client inflated
	now    int64
	rng    *rand.Rand
	ctl    chan ctlMsg
	out    func(workerEvent)
	st     *stats
	lp     *lpShared // LongPoll clients' goroutines (longpoll.go), or nil
	lpEvs  []lpEvent

	participants []int
	arrived      []int
	released     []bool
	done         int
	connecting   int
	pendingAll   int // outstanding non-heartbeat requests
	maxConnect   int

	phase    phase
	start    int64
	holdEnd  int64
	drainEnd int64
	lastRecv int64
}

// newEngine prepares the local clients; nothing is connected yet.
func newEngine(p *scenario.Program, o engineOptions, out func(workerEvent)) (*engine, error) {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	e := &engine{
		p: p, o: o, ep: ep, out: out,
		events: make([]unix.EpollEvent, 512),
		rbuf:   make([]byte, 256<<10),
		rng:    rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(o.worker))),
		ctl:    make(chan ctlMsg, 2*scenario.MaxBarriers+8),
		st:     newStats(o.t0, o.step),
	}
	e.participants = make([]int, len(p.Barriers))
	e.arrived = make([]int, len(p.Barriers))
	e.released = make([]bool, len(p.Barriers))
	for _, gp := range p.Groups {
		g := &groupRT{gp: gp, rate: gp.Rate / float64(o.procs)}
		for n := range gp.Count {
			id := gp.First + n
			if id%o.procs != o.worker {
				continue
			}
			c := newClient(g, id, n, p.TargetOf(n))
			e.st.target(c.ti).Clients++
			g.local = append(g.local, c)
			e.all = append(e.all, c)
		}
		for b := range gp.Barriers {
			e.participants[b] += len(g.local)
		}
		e.groups = append(e.groups, g)
	}
	if p.HasLongPoll() {
		lp, err := newLPShared(ep, len(e.all), o.src)
		if err != nil {
			unix.Close(ep)
			return nil, err
		}
		e.lp = lp
	}
	e.maxConnect = max(1, p.Scenario.MaxConnecting/o.procs)
	e.st.c.Clients = int64(len(e.all))
	return e, nil
}

// run executes the scenario until the finish phase and returns this
// process's result.
func (e *engine) run() (*workerResult, error) {
	defer unix.Close(e.ep)
	if e.lp != nil {
		defer e.lp.close() // after closeAll: the goroutines are told to stop
	}
	e.now = nowNS()
	e.start = e.now
	e.st.marks.Start = e.now
	for b, n := range e.participants {
		if n == 0 {
			e.out(workerEvent{Arrive: &b})
		}
	}
	if len(e.all) == 0 {
		e.out(workerEvent{Done: true})
	}
	e.addTimer(timer{at: e.start + int64(e.p.Scenario.Duration), kind: tDeadline})
	for e.phase != phFinish {
		if err := e.iterate(); err != nil {
			e.closeAll()
			return nil, err
		}
	}
	e.closeAll()
	return e.st.export(e), nil
}

// iterate runs one loop turn: control, ramp, timers, then epoll.
func (e *engine) iterate() error {
	e.now = nowNS()
	e.pollCtl()
	e.ramp()
	e.runTimers()
	e.checkPhase()
	if e.phase == phFinish {
		return nil
	}
	n, err := unix.EpollWait(e.ep, e.events, e.pollTimeout())
	if err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("epoll_wait: %w", err)
	}
	for i := range max(n, 0) {
		e.now = nowNS() // the receive time of this socket's data
		e.onEvent(&e.events[i])
	}
	return nil
}

// nowNS is the wall clock in unix ns: stamps compare across processes.
func nowNS() int64 { return time.Now().UnixNano() }

// pollTimeout is how long epoll may sleep: until the next timer or ramp
// step, at most 5 ms so control messages are seen promptly.
func (e *engine) pollTimeout() int {
	wait := int64(5 * time.Millisecond)
	if e.timers.Len() > 0 {
		wait = min(wait, e.timers[0].at-e.now)
	}
	if e.phase == phRun && e.rampPending() {
		wait = min(wait, int64(time.Millisecond))
	}
	if wait <= 0 {
		return 0
	}
	return int((wait + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

// pollCtl applies pending control messages.
func (e *engine) pollCtl() {
	for {
		select {
		case m := <-e.ctl:
			e.applyCtl(m)
		default:
			return
		}
	}
}

// applyCtl releases a barrier, ends or stops the run.
func (e *engine) applyCtl(m ctlMsg) {
	switch {
	case m.Release != nil:
		b := *m.Release
		if b < 0 || b >= len(e.released) || e.released[b] {
			return
		}
		e.released[b] = true
		for _, c := range e.all {
			if c.block == blockBarrier && c.barrier == b {
				c.unblock()
				e.advance(c)
			}
		}
	case m.End:
		e.beginEnd(false)
	case m.Stop:
		e.st.marks.Stopped = true
		e.beginEnd(true)
	}
}

// rampPending reports whether some group still has clients to connect.
func (e *engine) rampPending() bool {
	for _, g := range e.groups {
		if g.next < len(g.local) {
			return true
		}
	}
	return false
}

// ramp starts the connects that are due by each group's rate, within the
// limit on handshakes in flight.
func (e *engine) ramp() {
	if e.phase != phRun {
		return
	}
	elapsed := float64(e.now-e.start) / 1e9
	budget := maxConnectsPerTurn
	for _, g := range e.groups {
		due := len(g.local)
		if g.rate > 0 {
			due = min(due, 1+int(elapsed*g.rate))
		}
		for g.next < due && e.connecting < e.maxConnect && budget > 0 {
			c := g.local[g.next]
			g.next++
			budget--
			e.connect(c)
		}
	}
}

// beginEnd leaves the run phase: every client is done, the deadline passed,
// or the run was interrupted (no hold, short drain).
func (e *engine) beginEnd(interrupted bool) {
	if e.phase != phRun {
		if interrupted { // cut a hold or drain short
			e.holdEnd = min(e.holdEnd, e.now)
			e.drainEnd = min(e.drainEnd, e.now+int64(time.Second))
		}
		return
	}
	e.st.marks.EndSteps = e.now
	for _, g := range e.groups {
		for _, c := range g.local[g.next:] {
			c.state = stFailed
			e.st.err("not_started")
		}
		g.next = len(g.local)
	}
	for _, c := range e.all {
		if !c.done && c.state == stOpen {
			e.st.err("unfinished")
			e.st.c.Unfinished++
			c.stopSteps()
		}
	}
	hold := int64(e.p.Scenario.Hold)
	drain := int64(*e.p.Scenario.Drain)
	if interrupted {
		hold, drain = 0, min(drain, int64(time.Second))
	}
	e.phase = phHold
	e.holdEnd = e.now + hold
	e.drainEnd = e.holdEnd + drain
	e.lastRecv = max(e.lastRecv, e.now)
}

// checkPhase moves from hold to drain to finish.
func (e *engine) checkPhase() {
	switch e.phase {
	case phHold:
		if e.now >= e.holdEnd {
			e.phase = phDrain
			e.st.marks.HoldEnd = e.now
		}
	case phDrain:
		quiet := e.pendingAll == 0 && e.now-e.lastRecv >= int64(quietGap)
		if quiet || e.now >= e.drainEnd {
			e.phase = phFinish
		}
	}
}

// clientDone counts a client that finished its steps or failed.
func (e *engine) clientDone(c *client) {
	if c.done {
		return
	}
	c.done = true
	e.done++
	e.st.live.done.Add(1)
	if e.done == len(e.all) {
		e.out(workerEvent{Done: true})
	}
}

// arrive counts a client at barrier b.
func (e *engine) arrive(c *client, b int) {
	if c.arrived&(1<<b) != 0 {
		return
	}
	c.arrived |= 1 << b
	e.arrived[b]++
	if e.arrived[b] == e.participants[b] {
		e.out(workerEvent{Arrive: &b})
	}
}

// closeAll closes every socket at the end of the run, politely.
func (e *engine) closeAll() {
	e.st.marks.Close = e.now
	for _, c := range e.all {
		if c.fd >= 0 || c.lp != nil {
			if c.state == stOpen {
				e.st.c.OpenAtEnd++
				e.st.target(c.ti).OpenAtEnd++
				e.sendClose(c)
			}
			e.closeFD(c)
		}
		c.endWindows(e)
	}
}

// Timers.

type timerKind uint8

const (
	tStep      timerKind = iota // a client's sleep end or blocking timeout
	tReply                      // a non-blocking request's reply timeout
	tConnect                    // connect + upgrade timeout
	tHeartbeat                  // next heartbeat
	tDeadline                   // the run's hard bound
)

type timer struct {
	at   int64
	c    *client
	gen  uint32
	kind timerKind
	ref  uint64
}

type timerHeap []timer

// timerHeap orders timers by due time (container/heap).
func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// addTimer schedules t.
func (e *engine) addTimer(t timer) { heap.Push(&e.timers, t) }

// runTimers fires every timer that is due.
func (e *engine) runTimers() {
	for e.timers.Len() > 0 && e.timers[0].at <= e.now {
		t := heap.Pop(&e.timers).(timer)
		e.fire(t)
	}
}

// fire runs a due timer; timers of a client whose state or generation
// moved on are stale and do nothing.
func (e *engine) fire(t timer) {
	c := t.c
	switch t.kind {
	case tDeadline:
		if e.phase == phRun {
			e.st.marks.Deadline = true
			e.beginEnd(false)
		}
	case tConnect:
		if c.gen == t.gen && (c.state == stConnecting || c.state == stHandshaking) {
			e.fail(c, "connect_timeout")
		}
	case tStep:
		if c.gen == t.gen && c.state == stOpen {
			e.stepTimer(c)
		}
	case tReply:
		if c.state == stOpen {
			e.replyTimeout(c, t.ref)
		}
	case tHeartbeat:
		if c.state == stOpen {
			e.heartbeat(c)
		}
	}
}
