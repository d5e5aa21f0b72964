package phx

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// blockingChannel serves block:*: each "work" event waits for a token on
// release (so the test decides when each one finishes) and records its
// payload; "later" replies after {"ms": n} with Channel.After.
type blockingChannel struct {
	release chan struct{}

	mu     sync.Mutex
	done   []string
	joined *Socket // the socket of the latest join
}

func (b *blockingChannel) Join(c *Channel, _ Payload) (any, error) {
	// Its events block by design: they go through the mailbox from the
	// start, as those of a channel found slow do, so the tests of the
	// inbound caps see work queue up behind a blocked handler.
	c.pinMailbox()
	b.mu.Lock()
	b.joined = c.Socket()
	b.mu.Unlock()
	return nil, nil
}

func (b *blockingChannel) HandleIn(c *Channel, msg *InMessage) (any, error) {
	switch msg.Event {
	case "work":
		<-b.release
		b.mu.Lock()
		b.done = append(b.done, string(msg.Payload.data))
		b.mu.Unlock()
		return nil, nil
	case "later":
		var in struct {
			MS int `json:"ms"`
		}
		_ = msg.Payload.Decode(&in)
		c.After(time.Duration(in.MS)*time.Millisecond, func() { _ = c.Reply(msg, "ok", Empty) })
		return nil, nil
	}
	return nil, ErrorReply(Reason("unknown"))
}

func (b *blockingChannel) handled() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.done...)
}

// watchInput makes the fake transport's gate record, at each pause and
// resume, the socket's outstanding work (read under the gate's lock,
// which the caller of pauseRead/resumeRead holds).
func watchInput(h *harness) *readGate {
	g := gateOf(h.tr)
	g.mu.Lock()
	g.sock = h.sock
	g.mu.Unlock()
	return g
}

// feed sends frames as a transport reader does: each only while the
// input is not paused. After each frame the socket's outstanding work
// must be within the cap plus slack (the deferred work of a handler in
// flight). It runs on its own goroutine: it reports with t.Errorf.
func feed(t *testing.T, h *harness, g *readGate, frames []string, slack int) {
	for _, f := range frames {
		if !g.waitReadable() {
			t.Errorf("input still paused after 60s")
			return
		}
		if err := h.sock.handleFrame([]byte(f), false); err != nil {
			t.Errorf("handleFrame(%s): %v", f, err)
			return
		}
		if units, _ := h.sock.InboundWork(); units > h.srv.cfg.MaxInbound+slack {
			t.Errorf("%d units outstanding, cap %d (+%d)", units, h.srv.cfg.MaxInbound, slack)
		}
	}
}

func workFrames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`["1","%d","block:a","work",{"i":%d}]`, i+2, i)
	}
	return out
}

// A flood of events whose handler is blocked: reading pauses when the
// socket's work reaches MaxInbound, the mailbox never holds more, and
// reading resumes only when the work is down to InboundResume.
func TestInboundFloodPausesReading(t *testing.T) {
	bothVersions(t, func(t *testing.T, ver serializer.Version) {
		const max, resume, n = 8, 3, 40
		srv := newServerForTest(t, Config{MaxInbound: max, InboundResume: resume})
		bc := &blockingChannel{release: make(chan struct{})}
		srv.Channel("block:*", bc)
		h := srv.connectForTest(t, ver, Assigns{})
		g := watchInput(h)
		h.joinV("block:a", "1")
		h.settle() // the join's own unit is released
		c := h.sock.lookup("block:a")

		fed := make(chan struct{})
		frames := workFrames(n)
		if ver == serializer.V1 {
			for i := range frames {
				frames[i] = fmt.Sprintf(`{"topic":"block:a","event":"work","payload":{"i":%d},"ref":"%d","join_ref":"1"}`, i, i+2)
			}
		}
		go func() { defer close(fed); feed(t, h, g, frames, 0) }()

		g.waitPaused(t)
		// The events wait in the mailbox (one may be running, blocked).
		if units, paused := h.sock.InboundWork(); units != max || !paused {
			t.Fatalf("at the pause: %d units (paused %v), want exactly %d", units, paused, max)
		}
		if l := c.mailboxLen(); l > max || l < max-1 {
			t.Fatalf("mailbox holds %d, want %d or %d (one running)", l, max, max-1)
		}
		for range n {
			bc.release <- struct{}{}
		}
		<-fed
		h.settle()
		got := bc.handled()
		if len(got) != n {
			t.Fatalf("%d events handled, want %d", len(got), n)
		}
		for i, p := range got {
			if p != fmt.Sprintf(`{"i":%d}`, i) {
				t.Fatalf("event %d handled as %s: order lost", i, p)
			}
		}
		if units, paused := h.sock.InboundWork(); units != 0 || paused {
			t.Fatalf("after draining: %d units, paused %v", units, paused)
		}
		if p := h.sock.inboundPeak(); p != max {
			t.Fatalf("peak %d units, want the cap %d", p, max)
		}
		// Hysteresis: every pause at the cap, every resume at the low mark.
		log := g.log()
		if len(log) < 2 || log[0] != fmt.Sprintf("pause@%d", max) {
			t.Fatalf("input log %v", log)
		}
		for i, e := range log {
			want := fmt.Sprintf("pause@%d", max)
			if i%2 == 1 {
				want = fmt.Sprintf("resume@%d", resume)
			}
			if e != want {
				t.Fatalf("input log %v: entry %d is %s, want %s", log, i, e, want)
			}
		}
	})
}

// With the default Config, the cap is 1,024 events.
func TestInboundDefaultCap(t *testing.T) {
	srv := newServerForTest(t, Config{})
	if srv.cfg.MaxInbound != 1024 || srv.cfg.InboundResume != 512 || srv.cfg.MaxInboundBytes != 4<<20 ||
		srv.cfg.InboundStall != 30*time.Second {
		t.Fatalf("defaults: %d %d %d %v", srv.cfg.MaxInbound, srv.cfg.InboundResume, srv.cfg.MaxInboundBytes, srv.cfg.InboundStall)
	}
	bc := &blockingChannel{release: make(chan struct{})}
	srv.Channel("block:*", bc)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	g := watchInput(h)
	h.join("block:a", "1")
	const n = 1100
	fed := make(chan struct{})
	go func() { defer close(fed); feed(t, h, g, workFrames(n), 0) }()
	g.waitPaused(t)
	if units, _ := h.sock.InboundWork(); units != 1024 {
		t.Fatalf("paused at %d units, want 1024", units)
	}
	for range n {
		bc.release <- struct{}{}
	}
	<-fed
	h.settle()
	if p := h.sock.inboundPeak(); p != 1024 {
		t.Fatalf("peak %d, want 1024", p)
	}
}

// Big frames hit the byte cap before the count cap.
func TestInboundByteCap(t *testing.T) {
	const maxBytes = 64 << 10
	srv := newServerForTest(t, Config{MaxInboundBytes: maxBytes})
	bc := &blockingChannel{release: make(chan struct{})}
	srv.Channel("block:*", bc)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	g := watchInput(h)
	h.join("block:a", "1")
	pad := strings.Repeat("x", 10<<10)
	frames := make([]string, 30)
	for i := range frames {
		frames[i] = fmt.Sprintf(`["1","%d","block:a","work",{"i":%d,"pad":%q}]`, i+2, i, pad)
	}
	fed := make(chan struct{})
	go func() { defer close(fed); feed(t, h, g, frames, 0) }()
	g.waitPaused(t)
	units, bytes := int(h.sock.in.n.Load()), int(h.sock.in.bytes.Load())
	if bytes < maxBytes || bytes >= maxBytes+len(frames[0]) || units >= 10 {
		t.Fatalf("paused at %d units, %d bytes; byte cap %d", units, bytes, maxBytes)
	}
	for range frames {
		bc.release <- struct{}{}
	}
	<-fed
	h.settle()
	if len(bc.handled()) != len(frames) {
		t.Fatal("events lost")
	}
}

// Channel.After timers count as inbound work: a flood of events that each
// defer a reply throttles the client (reading pauses at the cap), every
// reply still comes, and timers released by the channel's end give the
// count back.
func TestInboundAfterCounts(t *testing.T) {
	const max = 6
	srv := newServerForTest(t, Config{MaxInbound: max})
	srv.Channel("block:*", &blockingChannel{release: make(chan struct{})})

	// Long timers: reading stops at the cap and stays stopped. Each event
	// is fed and handled in turn: event i counts while its handler arms
	// its timer, so the pause comes when i timers + event i make the cap.
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	g := watchInput(h)
	h.join("block:a", "1")
	h.settle()
	fed := 0
	for i := 0; !g.isPaused(); i++ {
		if i == 20 {
			t.Fatal("20 events with hour-long timers, and reading never paused")
		}
		h.in(fmt.Sprintf(`["1","%d","block:a","later",{"ms":3600000}]`, i+2))
		h.settle()
		fed++
	}
	c := h.sock.lookup("block:a")
	c.mu.Lock()
	armed := len(c.x.timers)
	c.mu.Unlock()
	if units, paused := h.sock.InboundWork(); units != max-1 || armed != max-1 || fed != max-1 || !paused {
		t.Fatalf("paused %v after %d events with %d units and %d timers armed, want %d",
			paused, fed, units, armed, max-1)
	}
	// A stopped timer gives its unit back; so does the channel's end.
	stop := c.After(time.Hour, func() { t.Error("stopped timer ran") })
	if !stop() || stop() {
		t.Fatal("stop did not report the first cancel only")
	}
	h.sock.closedByTransport(CloseAbnormal, "")
	<-c.Done()
	if units, paused := h.sock.InboundWork(); units != 0 || paused {
		t.Fatalf("after the channel ended: %d units, paused %v", units, paused)
	}

	// Short timers: every reply comes, the work never over the cap.
	h2 := srv.connectForTest(t, serializer.V2, Assigns{})
	g2 := watchInput(h2)
	h2.join("block:a", "1")
	frames := make([]string, 20)
	for i := range frames {
		frames[i] = fmt.Sprintf(`["1","%d","block:a","later",{"ms":1}]`, i+2)
	}
	fed2 := make(chan struct{})
	go func() { defer close(fed2); feed(t, h2, g2, frames, 1) }()
	seen := map[string]bool{}
	for range frames {
		f := h2.next()
		if !strings.HasSuffix(f, `"phx_reply",{"response":{},"status":"ok"}]`) {
			t.Fatalf("unexpected frame %s", f)
		}
		seen[f] = true
	}
	<-fed2
	if len(seen) != len(frames) {
		t.Fatalf("%d distinct replies, want %d", len(seen), len(frames))
	}
	// At most the cap, plus the timer of the one handler in flight (it
	// arms it before its own event is released).
	if p := h2.sock.inboundPeak(); p > max+1 {
		t.Fatalf("peak %d units, cap %d (+1 in flight)", p, max)
	}
}

// A LongPoll POST over the cap waits (it is the LongPoll client's input)
// and completes, every message handled in order, once the handlers
// drain; one that waits longer than InboundStall closes the session with
// 1008 and answers {"status":410}, on which phoenix.js reconnects.
func TestInboundLongPoll(t *testing.T) {
	const max = 4
	// The session's idle expiry (1.5 × Window) must outlast InboundStall:
	// a session that expires ends its waiting POST at once.
	srv, bc, c, ss := blockedLPSession(t, Config{MaxInbound: max, InboundStall: 200 * time.Millisecond,
		LongPoll: LongPollConfig{Window: 500 * time.Millisecond}})

	lines := workFrames(12)
	posted := make(chan string, 1)
	go func() {
		_, body := c.do(http.MethodPost, strings.Join(lines, "\n"), "application/x-ndjson", nil)
		posted <- body
	}()
	for i := range lines {
		if i == 0 {
			// The POST is parked at the cap until a handler finishes.
			waitInboundPaused(t, ss.sock)
			if units, _ := ss.sock.InboundWork(); units != max {
				t.Fatalf("POST paused at %d units, want %d", units, max)
			}
			select {
			case body := <-posted:
				t.Fatalf("POST answered %s while over the cap", body)
			default:
			}
		}
		bc.release <- struct{}{}
	}
	if body := <-posted; body != `{"status":200}` {
		t.Fatalf("POST body %s", body)
	}
	settleChannel(t, ss.sock.lookup("block:a"))
	if got := bc.handled(); len(got) != len(lines) || got[len(got)-1] != fmt.Sprintf(`{"i":%d}`, len(lines)-1) {
		t.Fatalf("handled %v", got)
	}
	if p := ss.sock.inboundPeak(); p != max {
		t.Fatalf("peak %d units, want %d", p, max)
	}

	// A stalled session: its handler never finishes.
	start := time.Now()
	code, body := c.do(http.MethodPost, strings.Join(workFrames(max+1), "\n"), "application/x-ndjson", nil)
	if code != 200 || body != `{"status":410}` {
		t.Fatalf("stalled POST: HTTP %d %s", code, body)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Fatalf("stalled POST answered after %v, before InboundStall", el)
	}
	if !ss.isClosed() {
		t.Fatal("stalled session not closed")
	}
	for range max {
		bc.release <- struct{}{}
	}

	// A POST whose client goes away while it waits stops waiting.
	c.open()
	c.post(`["1","1","block:a","phx_join",{}]`)
	c.collect(1)
	ss = srv.lp.get(mustSessionID(t, srv, c.token))
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/socket/longpoll?"+c.query,
		strings.NewReader(strings.Join(workFrames(max+1), "\n")))
	req.Header.Set("X-Phoenix-Longpoll-Token", c.token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeHTTP(httptest.NewRecorder(), req) }()
	waitInboundPaused(t, ss.sock)
	cancel()
	<-done
	if !ss.isClosed() {
		t.Fatal("session of a gone POST not closed")
	}
	for range max {
		bc.release <- struct{}{}
	}
}

// blockedLPSession opens a LongPoll session (V2) on a fresh server whose
// block:a channel, joined, handles each event only when bc.release lets it.
func blockedLPSession(t *testing.T, cfg Config) (*Server, *blockingChannel, *lpClient, *lpSession) {
	t.Helper()
	srv := newLPServer(t, cfg)
	bc := &blockingChannel{release: make(chan struct{})}
	srv.Channel("block:*", bc)
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	c.post(`["1","1","block:a","phx_join",{}]`)
	c.collect(1)
	return srv, bc, c, srv.lp.get(mustSessionID(t, srv, c.token))
}

// settleChannel waits until everything queued in c's mailbox has run.
func settleChannel(t *testing.T, c *Channel) {
	t.Helper()
	done := make(chan struct{})
	c.enqueue(func() { close(done) })
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("mailbox did not settle within 60s")
	}
}

func mustSessionID(t *testing.T, srv *Server, token string) string {
	t.Helper()
	id, ok := srv.lp.tokens.sessionID(token)
	if !ok {
		t.Fatal("bad session token")
	}
	return id
}

// waitInboundPaused waits until s's input is paused (60s at most).
func waitInboundPaused(t *testing.T, s *Socket) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		s.in.mu.Lock()
		ch := s.in.resumed
		s.in.mu.Unlock()
		if ch != nil {
			return
		}
		select {
		case <-deadline:
			t.Fatal("input not paused within 60s")
		case <-time.After(time.Millisecond):
		}
	}
}
