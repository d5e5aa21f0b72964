package phx

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// inMailbox reports whether the caller runs on a channel's mailbox
// goroutine (Channel.run is on its stack) rather than inline.
func inMailbox() bool {
	buf := make([]byte, 16<<10)
	buf = buf[:runtime.Stack(buf, false)]
	return bytes.Contains(buf, []byte("phx.(*Channel).run("))
}

// goid is the calling goroutine's id, from its stack header.
func goid() uint64 {
	var buf [64]byte
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf[:], false)]), "goroutine ")
	id, _ := strconv.ParseUint(s[:strings.IndexByte(s, ' ')], 10, 64)
	return id
}

// whereChannel records, per event, whether its handler ran in the
// mailbox and on which goroutine. "sleep" sleeps the number of
// milliseconds in its payload ({"ms":N}); everything gets an ok reply
// echoing the payload.
type whereChannel struct {
	mu       sync.Mutex
	mailbox  []bool
	goids    []uint64
	sleeping chan struct{} // closed as the first long sleep starts (nil: none)
	once     sync.Once
	last     *Channel // the latest instance joined
}

func (w *whereChannel) Join(c *Channel, _ Payload) (any, error) {
	w.mu.Lock()
	w.last = c
	w.mu.Unlock()
	return nil, nil
}

func (w *whereChannel) HandleIn(c *Channel, msg *InMessage) (any, error) {
	w.mu.Lock()
	w.mailbox = append(w.mailbox, inMailbox())
	w.goids = append(w.goids, goid())
	w.mu.Unlock()
	if msg.Event == "sleep" {
		var in struct {
			MS int `json:"ms"`
		}
		_ = msg.Payload.Decode(&in)
		if in.MS >= 100 && w.sleeping != nil {
			w.once.Do(func() { close(w.sleeping) })
		}
		time.Sleep(time.Duration(in.MS) * time.Millisecond)
	}
	return msg.Payload, nil
}

func (w *whereChannel) where() (mailbox []bool, goids []uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]bool(nil), w.mailbox...), append([]uint64(nil), w.goids...)
}

// strikesOf is how many times c was found slow. A loaded machine can
// stall a trivial handler past inlineBudget now and then (a preempted
// thread): a strike like any other, after which events run in the
// mailbox for a while (longer if one of them is stalled there too). So
// the tests of the fast path allow mailbox runs only after a strike, and
// then at most half of them; a channel never found slow must have run
// every event inline.
func strikesOf(c *Channel) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.strikes)
}

// checkMostlyInline applies strikesOf's rule to n events, inMail of
// which ran in the mailbox.
func checkMostlyInline(t *testing.T, c *Channel, n, inMail int) {
	t.Helper()
	strikes := strikesOf(c)
	t.Logf("%d of %d events in the mailbox, %d strikes", inMail, n, strikes)
	limit := n / 2
	if raceEnabled {
		// The detector's pauses, with another test binary on the same
		// cores, strike a trivial handler several times in 1,000 events
		// (5 strikes, 717 mailbox runs seen in go test -race ./netpoll
		// ./phx): each strike doubles its recovery. Only require that it
		// recovered, and the strict rule without strikes.
		limit = n - 1
	}
	if (strikes == 0 && inMail > 0) || inMail > limit {
		t.Fatalf("%d of %d events ran in the mailbox, with %d strikes", inMail, n, strikes)
	}
}

// Client frames of a fast channel run on the goroutine that handed the
// frame in (the transport's), with no mailbox goroutine: the handler sees
// the caller's goroutine id, and the reply is written before handleFrame
// returns. Events that went through the mailbox must be explained by
// strikes (see strikesOf).
func TestInlineRunsOnCaller(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.inlineBudget = time.Second // no stall of a loaded machine marks the channel slow
	w := &whereChannel{}
	srv.Channel("w:*", w)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.join("w:a", "1")
	me := goid()
	const n = 1000
	early := make([]bool, n)
	for i := range n {
		h.in(fmt.Sprintf(`["1","%d","w:a","e",{"i":%d}]`, i+2, i))
		early[i] = len(h.tr.frames) > 0
		h.expect(fmt.Sprintf(`["1","%d","w:a","phx_reply",{"response":{"i":%d},"status":"ok"}]`, i+2, i))
		if !early[i] { // in the mailbox: let its goroutine end before the next event
			waitIdle(t, h.sock.lookup("w:a"))
		}
	}
	mailbox, goids := w.where()
	inMail := 0
	for i := range mailbox {
		switch {
		case mailbox[i]:
			inMail++
		case goids[i] != me:
			t.Fatalf("event %d ran inline on goroutine %d, want the caller's %d", i, goids[i], me)
		case !early[i]:
			t.Fatalf("event %d ran inline but its reply was not written when handleFrame returned", i)
		}
	}
	checkMostlyInline(t, h.sock.lookup("w:a"), n, inMail)
}

// Over a real WebSocket, 1,000 pushes of a fast channel run inline on
// the transport's goroutine, none in a mailbox goroutine unless a strike
// moved the channel there (a loaded machine may preempt a handler past
// the budget; a push that arrives while the mailbox goroutine is still
// finishing the one before goes there too, for order's sake): with no
// strike, none; with some, still most of them inline.
func TestInlineWebSocketNoMailbox(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.inlineBudget = time.Second // no stall of a loaded machine marks the channel slow
	w := &whereChannel{}
	srv.Channel("w:*", w)
	c := dialWire(t, startWire(t, srv))
	if err := c.send(`["1","1","w:a","phx_join",{}]`); err != nil {
		t.Fatal(err)
	}
	c.expectText(`["1","1","w:a","phx_reply",{"response":{},"status":"ok"}]`)
	const n = 1000
	for i := range n {
		if err := c.send(fmt.Sprintf(`["1","%d","w:a","e",{"i":%d}]`, i+2, i)); err != nil {
			t.Fatal(err)
		}
		c.expectText(fmt.Sprintf(`["1","%d","w:a","phx_reply",{"response":{"i":%d},"status":"ok"}]`, i+2, i))
	}
	mailbox, _ := w.where()
	inMail := 0
	for _, m := range mailbox {
		if m {
			inMail++
		}
	}
	w.mu.Lock()
	ch := w.last
	w.mu.Unlock()
	checkMostlyInline(t, ch, n, inMail)
}

// Inline work counts toward the inbound caps while it runs: at
// MaxInbound 1 the handler sees its own unit and the input paused, and
// both are given back when it returns.
func TestInlineCountsInbound(t *testing.T) {
	srv := newServerForTest(t, Config{MaxInbound: 1, InboundResume: 0})
	var units atomic.Int64
	var paused atomic.Bool
	srv.Channel("f:*", handlerFunc(func(c *Channel, msg *InMessage) (any, error) {
		u, p := c.Socket().InboundWork()
		units.Store(int64(u))
		paused.Store(p)
		return Empty, nil
	}))
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	g := watchInput(h)
	h.join("f:a", "1")
	h.in(`["1","2","f:a","e",{}]`)
	h.expect(`["1","2","f:a","phx_reply",{"response":{},"status":"ok"}]`)
	if units.Load() != 1 || !paused.Load() {
		t.Fatalf("inside the inline handler: %d units, paused %v; want 1, true", units.Load(), paused.Load())
	}
	if u, p := h.sock.InboundWork(); u != 0 || p {
		t.Fatalf("after it: %d units, paused %v; want 0, false", u, p)
	}
	if log := g.log(); len(log) != 4 || log[2] != "pause@1" || log[3] != "resume@0" {
		t.Fatalf("input log %v, want the join's and the event's pause@1, resume@0", log)
	}
}

// handlerFunc is a ChannelHandler that accepts every join and handles
// events with f.
type handlerFunc func(c *Channel, msg *InMessage) (any, error)

func (handlerFunc) Join(*Channel, Payload) (any, error)                { return nil, nil }
func (f handlerFunc) HandleIn(c *Channel, msg *InMessage) (any, error) { return f(c, msg) }

// A handler that outlives inlineBudget marks its channel slow: the next
// events run in the mailbox, in order; after slowRecovery fast ones the
// channel runs inline again; a relapse doubles the wait. A loaded
// machine may stall a trivial handler past the budget (an extra strike,
// or a reset of the fast run): the scenario is tried up to three times
// on fresh sockets, and a mutant of the rule fails all three.
func TestInlineSlowChannelRecovers(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.inlineBudget = 50 * time.Millisecond // a trivial handler stays under it on a loaded machine
	var err error
	for attempt := range 3 {
		if err = slowRecoveryScenario(t, srv); err == nil {
			return
		}
		t.Logf("attempt %d: %v", attempt+1, err)
	}
	t.Fatal(err)
}

func slowRecoveryScenario(t *testing.T, srv *Server) error {
	w := &whereChannel{}
	topic := fmt.Sprintf("w%p:a", w)
	srv.Channel(topic, w)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.join(topic, "1")
	defer h.sock.closedByTransport(CloseAbnormal, "")
	c := h.sock.lookup(topic)
	ref := 2
	push := func(event string, ms int) {
		h.in(fmt.Sprintf(`["1","%d",%q,%q,{"ms":%d}]`, ref, topic, event, ms))
		h.expect(fmt.Sprintf(`["1","%d",%q,"phx_reply",{"response":{"ms":%d},"status":"ok"}]`, ref, topic, ms))
		waitIdle(t, c) // the reply is out before the mailbox goroutine has counted the run
		ref++
	}
	slowMS := int(2 * srv.inlineBudget / time.Millisecond)
	runs := func(n int, mailbox bool) []bool {
		out := make([]bool, n)
		for i := range out {
			out[i] = mailbox
		}
		return out
	}
	check := func(from int, want []bool) error {
		mailbox, _ := w.where()
		if got := mailbox[from:]; fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("events %d on ran in the mailbox: %v, want %v", from, got, want)
		}
		return nil
	}
	push("sleep", slowMS) // inline, found slow
	for range slowRecovery + 2 {
		push("e", 0)
	}
	if err := check(0, append(append([]bool{false}, runs(slowRecovery, true)...), false, false)); err != nil {
		return err
	}
	push("sleep", slowMS) // inline again, found slow a second time
	for range 2*slowRecovery + 1 {
		push("e", 0)
	}
	return check(slowRecovery+3, append(append([]bool{false}, runs(2*slowRecovery, true)...), false))
}

// One channel's handler sleeps a second while 1,000 other sockets push
// and get replies: none of their round trips waits for the sleep (a
// generous bound, far under it), the sleeper's later pushes are answered
// in order from its mailbox, and another channel on the sleeper's socket
// is answered once the sleep ends (its frames wait behind the one
// handler call the transport's goroutine is running).
func TestInlineSlowHandlerBlocksNobody(t *testing.T) {
	const sockets, sleep = 1000, time.Second
	bound := 300 * time.Millisecond
	if raceEnabled {
		bound = 600 * time.Millisecond
	}
	srv := newServerForTest(t, Config{})
	sleeper := &whereChannel{sleeping: make(chan struct{})}
	srv.Channel("sleep:*", sleeper)
	srv.Channel("echo:*", &whereChannel{})
	addr := startWire(t, srv)

	clients := make([]*wireClient, sockets)
	for i := range clients {
		c := dialWire(t, addr)
		if err := c.send(fmt.Sprintf(`["1","1","echo:%d","phx_join",{}]`, i)); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	for i, c := range clients {
		c.expectText(fmt.Sprintf(`["1","1","echo:%d","phx_reply",{"response":{},"status":"ok"}]`, i))
	}
	s := dialWire(t, addr)
	for _, f := range []string{`["1","1","sleep:a","phx_join",{}]`, `["2","2","echo:same","phx_join",{}]`} {
		if err := s.send(f); err != nil {
			t.Fatal(err)
		}
	}
	s.expectText(`["1","1","sleep:a","phx_reply",{"response":{},"status":"ok"}]`)
	s.expectText(`["2","2","echo:same","phx_reply",{"response":{},"status":"ok"}]`)

	start := time.Now()
	for _, f := range []string{
		fmt.Sprintf(`["1","10","sleep:a","sleep",{"ms":%d}]`, sleep/time.Millisecond),
		`["1","11","sleep:a","e",{"n":11}]`, `["1","12","sleep:a","e",{"n":12}]`,
		`["1","13","sleep:a","e",{"n":13}]`, `["2","20","echo:same","e",{"n":20}]`,
	} {
		if err := s.send(f); err != nil {
			t.Fatal(err)
		}
	}
	<-sleeper.sleeping

	// The others push while the handler sleeps: 20 goroutines, each
	// taking its 50 sockets round after round until the sleep is over.
	var mu sync.Mutex
	var worst time.Duration
	trips := 0
	errs := make(chan error, 20)
	var wg sync.WaitGroup
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; time.Since(start) < sleep-100*time.Millisecond; round++ {
				for i := g; i < sockets; i += 20 {
					c := clients[i]
					ref := 2 + round
					t0 := time.Now()
					if err := c.send(fmt.Sprintf(`["1","%d","echo:%d","e",{}]`, ref, i)); err != nil {
						errs <- err
						return
					}
					got, err := c.text()
					rtt := time.Since(t0)
					if want := fmt.Sprintf(`["1","%d","echo:%d","phx_reply",{"response":{},"status":"ok"}]`, ref, i); err != nil || got != want {
						errs <- fmt.Errorf("socket %d: got %q, %v; want %s", i, got, err, want)
						return
					}
					mu.Lock()
					worst = max(worst, rtt)
					trips++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d round trips during the sleep, slowest %v", trips, worst)
	if trips < sockets {
		t.Fatalf("only %d round trips during the sleep, want every socket's at least", trips)
	}
	if worst > bound {
		t.Fatalf("slowest round trip %v while another channel slept %v: over %v", worst, sleep, bound)
	}

	// The sleeper's socket: its pushes in order, the other channel's reply
	// after the sleep.
	var sleepAs []string
	var same string
	for range 5 {
		f, err := s.text()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(f, "echo:same") {
			same = f
			if el := time.Since(start); el < sleep {
				t.Logf("the other channel of the sleeper's socket answered after %v", el)
			}
			continue
		}
		sleepAs = append(sleepAs, f)
	}
	want := []string{
		fmt.Sprintf(`["1","10","sleep:a","phx_reply",{"response":{"ms":%d},"status":"ok"}]`, sleep/time.Millisecond),
		`["1","11","sleep:a","phx_reply",{"response":{"n":11},"status":"ok"}]`,
		`["1","12","sleep:a","phx_reply",{"response":{"n":12},"status":"ok"}]`,
		`["1","13","sleep:a","phx_reply",{"response":{"n":13},"status":"ok"}]`,
	}
	if fmt.Sprint(sleepAs) != fmt.Sprint(want) {
		t.Fatalf("sleeper's replies %v, want %v", sleepAs, want)
	}
	if same != `["2","20","echo:same","phx_reply",{"response":{"n":20},"status":"ok"}]` {
		t.Fatalf("the other channel of the sleeper's socket got %q", same)
	}
	// Found slow at the sleep: the pushes after it ran in the mailbox.
	if mailbox, _ := sleeper.where(); fmt.Sprint(mailbox) != "[false true true true]" {
		t.Fatalf("sleeper's events ran in the mailbox: %v, want [false true true true]", mailbox)
	}
}

// A fired After timer runs its function inline, on the timer's goroutine,
// when the channel is idle; Send always goes through the mailbox (its
// caller may hold locks its function takes).
func TestInlineAfterAndSend(t *testing.T) {
	srv := newServerForTest(t, Config{})
	w := &whereChannel{}
	srv.Channel("w:*", w)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.join("w:a", "1")
	c := h.sock.lookup("w:a")
	type run struct{ mailbox bool }
	got := make(chan run, 2)
	c.After(time.Millisecond, func() { got <- run{inMailbox()} })
	after := <-got
	if after.mailbox && strikesOf(c) == 0 {
		t.Fatal("a fired After timer of an idle channel ran in the mailbox")
	}
	waitIdle(t, c)
	c.Send(func() { got <- run{inMailbox()} })
	if send := <-got; !send.mailbox {
		t.Fatal("Send ran its function on the caller's goroutine")
	}
}
