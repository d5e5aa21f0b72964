package phx

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// trickleBody sends `first` bytes, then blocks until stop is closed and
// fails (a client that went quiet, then away). read counts what the
// server took.
type trickleBody struct {
	first int64
	read  *atomic.Int64
	stop  <-chan struct{}
}

func (b *trickleBody) Read(p []byte) (int, error) {
	if left := b.first - b.read.Load(); left > 0 {
		k := min(int64(len(p)), left)
		for i := range p[:k] {
			p[i] = ' '
		}
		b.read.Add(k)
		return int(k), nil
	}
	<-b.stop
	return 0, errors.New("client gone")
}

// Slow POSTs declaring MaxBody and trickling their bodies hold BodyBudget
// only for what they have sent (plus one growth step), not for their
// declared length while the rest trickles in: a fresh client's POST still
// goes through, and every reserved byte comes back.
func TestLongPollTricklingPostsHoldWhatTheySent(t *testing.T) {
	const n, sent, maxBody, budget = 40, 10 << 10, 1 << 20, 4 << 20
	srv, _ := lpCountingServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond,
		Idle: time.Minute, MaxBody: maxBody, BodyBudget: budget}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	reads := make([]atomic.Int64, n)
	codes := make([]int, n)
	for i := range n {
		postInBackground(t, srv, &wg, &trickleBody{first: sent, read: &reads[i], stop: stop}, maxBody, &codes[i])
	}
	waitFor(t, func() bool {
		total := int64(0)
		for i := range reads {
			total += reads[i].Load()
		}
		return total == n*sent
	})
	// each holds what it sent, plus at most the chunk being filled (as
	// large as what came before it, lpBodyFirst to lpBodyStep): 40 × 1 MiB
	// declared would be 40 MiB
	held := srv.lp.bodies.Load()
	if bound := int64(n * (sent + min(max(sent, lpBodyFirst), lpBodyStep))); held > bound || held < n*sent {
		t.Fatalf("%d POSTs that sent %d bytes each hold %d bytes of the budget, want %d..%d", n, sent, held, n*sent, bound)
	}
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	if body := c.post(`["1","1","phoenix","heartbeat",{}]`); body != `{"status":200}` {
		t.Fatalf("a fresh client's POST while %d POSTs trickle: %s", n, body)
	}
	close(stop)
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusBadRequest {
			t.Errorf("trickling POST %d whose client went away: HTTP %d, want 400", i, code)
		}
	}
	if b := srv.lp.bodies.Load(); b != 0 {
		t.Fatalf("%d body bytes still reserved after every POST ended", b)
	}
}

// A body that outgrows what is left of BodyBudget while it arrives is
// refused there (503, Retry-After, Connection: close), having read no more
// than the budget allowed, and gives back what it reserved.
func TestLongPollBodyBudgetMidBody(t *testing.T) {
	const maxBody = 256 << 10
	srv, _ := lpCountingServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond,
		Idle: time.Minute, MaxBody: maxBody, BodyBudget: maxBody}})
	// a slow POST holds about half the budget
	stop := make(chan struct{})
	var slowRead atomic.Int64
	a := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	a.open()
	req := httptest.NewRequest(http.MethodPost, "/socket/longpoll?vsn=2.0.0", nil)
	req.Body = io.NopCloser(&trickleBody{first: maxBody / 2, read: &slowRead, stop: stop})
	req.ContentLength = maxBody
	req.Header.Set("X-Phoenix-Longpoll-Token", a.token)
	done := make(chan struct{})
	go func() { defer close(done); srv.ServeHTTP(httptest.NewRecorder(), req) }()
	waitFor(t, func() bool { return slowRead.Load() == maxBody/2 })
	held := srv.lp.bodies.Load()

	// a whole body of MaxBody does not fit in the rest
	b := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	b.open()
	var bigRead atomic.Int64
	big := httptest.NewRequest(http.MethodPost, "/socket/longpoll?vsn=2.0.0", &genBody{left: maxBody, read: &bigRead})
	big.ContentLength = maxBody
	big.Header.Set("X-Phoenix-Longpoll-Token", b.token)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, big)
	if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != `{"status":503}` ||
		rec.Header().Get("Retry-After") == "" || rec.Header().Get("Connection") != "close" {
		t.Fatalf("POST outgrowing the budget: HTTP %d %q %v, want 503 {\"status\":503}, Retry-After, Connection: close",
			rec.Code, rec.Body.String(), rec.Header())
	}
	if r := bigRead.Load(); r > maxBody-held {
		t.Errorf("the refused POST had %d bytes read, more than the %d left in the budget", r, maxBody-held)
	}
	if now := srv.lp.bodies.Load(); now != held {
		t.Errorf("after the refusal %d bytes reserved, want the slow POST's %d", now, held)
	}
	// the session is not closed for the server's own limit
	if body := b.post(`["1","1","phoenix","heartbeat",{}]`); body != `{"status":200}` {
		t.Fatalf("the refused client's next POST: %s, want its session still open", body)
	}
	close(stop)
	<-done
	if n := srv.lp.bodies.Load(); n != 0 {
		t.Fatalf("%d body bytes still reserved after every POST ended", n)
	}
}

// A POST whose frames wait for the session's inbound capacity (its
// channels are slow) gives its body's share of BodyBudget back first: the
// frames are bounded by the socket's inbound cap, and other clients'
// POSTs are not refused meanwhile.
func TestLongPollWaitingPostHoldsNoBudget(t *testing.T) {
	const max = 2
	srv, bc, c, ss := blockedLPSession(t, Config{MaxInbound: max, InboundStall: time.Minute,
		LongPoll: LongPollConfig{Window: 50 * time.Millisecond}})
	lines := workFrames(max + 3)
	posted := make(chan string, 1)
	go func() {
		_, body := c.do(http.MethodPost, strings.Join(lines, "\n"), "application/x-ndjson", nil)
		posted <- body
	}()
	waitInboundPaused(t, ss.sock)
	if n := srv.lp.bodies.Load(); n != 0 {
		t.Fatalf("a POST waiting for inbound capacity holds %d bytes of the budget, want 0", n)
	}
	for range lines {
		bc.release <- struct{}{}
	}
	if body := <-posted; body != `{"status":200}` {
		t.Fatalf("the waiting POST: %s", body)
	}
}
