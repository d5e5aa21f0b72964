package phx

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Attacks on the LongPoll limits (hole 8 of issue 10): each asserts the
// bound itself (sessions, slots, bytes read, memory), not only survival.

// lpCountingServer is newLPServer whose Connect counts its calls.
func lpCountingServer(t *testing.T, cfg Config) (*Server, *atomic.Int64) {
	var calls atomic.Int64
	cfg.Connect = func(ctx context.Context, info *ConnectInfo) (Assigns, error) {
		calls.Add(1)
		return testConnect(ctx, info)
	}
	if cfg.ID == nil {
		cfg.ID = func(*Socket) string { return "users_socket:u1" }
	}
	srv := newServerForTest(t, cfg)
	srv.Channel("room:*", &testChannel{})
	return srv, &calls
}

// lpFlood sends session-creating GETs until `extra` have been refused
// (bounded by limit+extra+1 attempts) and returns the tokens of the
// sessions it got.
func lpFlood(t *testing.T, srv *Server, limit, extra int) []string {
	t.Helper()
	var tokens []string
	refused := 0
	for i := 0; refused < extra && i <= limit+extra; i++ {
		req := httptest.NewRequest(http.MethodGet, "/socket/longpoll?token=good&vsn=2.0.0", nil)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code == http.StatusServiceUnavailable {
			refused++
			if ra := rec.Header().Get("Retry-After"); ra != lpRetryAfter {
				t.Fatalf("refused session: Retry-After %q, want %q", ra, lpRetryAfter)
			}
			// a JSON status phoenix.js does not know would wedge it; an
			// empty body is its "500": error, close, backoff
			if body != "" {
				t.Fatalf("refused session: body %q, want none", body)
			}
			continue
		}
		var r lpResp
		if rec.Code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.Status != 410 || r.Token == "" {
			t.Fatalf("session GET %d: HTTP %d %s", i, rec.Code, body)
		}
		if refused > 0 {
			t.Fatalf("a session was created after a refusal, with nothing released")
		}
		tokens = append(tokens, r.Token)
	}
	return tokens
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Sessions until refused: exactly MaxSessions exist, the refusals cost no
// Connect and no memory, and every way a session ends gives its place back.
func TestLongPollSessionCapAttack(t *testing.T) {
	const limit = 300
	srv, calls := lpCountingServer(t, Config{LongPoll: LongPollConfig{MaxSessions: limit,
		Window: 20 * time.Millisecond, Idle: time.Minute}})
	before := heapInUse()
	tokens := lpFlood(t, srv, limit, 2000)
	after := heapInUse()
	if len(tokens) != limit || srv.LongPollSessions() != limit {
		t.Fatalf("%d sessions created (%d live), want exactly MaxSessions %d", len(tokens), srv.LongPollSessions(), limit)
	}
	if n := calls.Load(); n != limit {
		t.Errorf("Connect ran %d times for %d sessions: refused GETs must not reach it", n, limit)
	}
	// generous: a session is a few KB; 2,000 refusals must keep nothing
	if grown := int64(after) - int64(before); grown > limit*32<<10 {
		t.Errorf("heap grew %d KB for %d sessions and 2,000 refusals, want ≤ %d KB", grown>>10, limit, limit*32)
	}
	t.Logf("heap +%d KB for %d sessions and 2,000 refused GETs", (int64(after)-int64(before))>>10, limit)

	// A session the server ended keeps its place until its client is told
	// (403), then gives it back.
	kicked := tokens[:10]
	for _, tok := range kicked {
		id, _ := srv.lp.tokens.sessionID(tok)
		srv.lp.get(id).close(CloseGoingAway, "")
	}
	if got := lpFlood(t, srv, 0, 1); len(got) != 0 {
		t.Fatalf("ended sessions released their places before their clients were told")
	}
	for _, tok := range kicked {
		c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0", token: tok}
		if r := c.get(); r.Status != 403 {
			t.Fatalf("poll of an ended session: %+v, want 403", r)
		}
	}
	if got := lpFlood(t, srv, 10, 1); len(got) != 10 {
		t.Fatalf("after 10 sessions ended and were told: %d new sessions, want 10", len(got))
	}
	// Shutdown gives every place back and refuses new sessions.
	srv.lp.shutdown()
	if n := srv.lp.places.Load(); n != 0 {
		t.Fatalf("%d places held after shutdown", n)
	}
	if got := lpFlood(t, srv, 0, 1); len(got) != 0 {
		t.Fatalf("a session was created after shutdown")
	}
}

// Sessions count toward the event loop's MaxConns once it exists, and give
// their slot back exactly once however they end (a slot given back twice
// would let more than MaxConns in below).
func TestLongPollSessionsTakeEventLoopSlots(t *testing.T) {
	const maxConns = 12
	srv, _ := lpCountingServer(t, Config{Net: NetConfig{MaxConns: maxConns},
		LongPoll: LongPollConfig{Window: 20 * time.Millisecond, Idle: 150 * time.Millisecond}})
	np, err := srv.netpoll()
	if err != nil {
		t.Fatal(err)
	}
	tokens := lpFlood(t, srv, maxConns, 5)
	if len(tokens) != maxConns {
		t.Fatalf("%d sessions under MaxConns %d, want %d", len(tokens), maxConns, maxConns)
	}
	if np.AcquireSlot() {
		np.ReleaseSlot()
		t.Fatalf("a connection slot was free with MaxConns sessions")
	}
	// a third end by kick and a told client, a third by a closed session
	// never polled again (swept), the rest by expiry
	for i, tok := range tokens {
		id, _ := srv.lp.tokens.sessionID(tok)
		switch ss := srv.lp.get(id); i % 3 {
		case 0:
			ss.close(CloseGoingAway, "")
			c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0", token: tok}
			if r := c.get(); r.Status != 403 {
				t.Fatalf("poll of a kicked session: %+v, want 403", r)
			}
		case 1:
			ss.close(ClosePolicyViolation, "slow consumer")
		}
	}
	waitFor(t, func() bool { return srv.LongPollSessions() == 0 })
	for i := range maxConns + 1 {
		ok := np.AcquireSlot()
		if ok != (i < maxConns) {
			t.Fatalf("AcquireSlot #%d = %v after every session ended: slots leaked or released twice", i+1, ok)
		}
	}
	for range maxConns {
		np.ReleaseSlot()
	}
}

// A "disconnect" broadcast on the socket id (kick_me) ends the session;
// the held poll learns it with 403 (not 410, which phoenix.js 1.7 would
// take for a fresh open), and the session leaves.
func TestLongPollKickedSessionPoll403(t *testing.T) {
	srv, _ := lpCountingServer(t, Config{LongPoll: LongPollConfig{Window: 5 * time.Second}})
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	c.post(`["1","1","room:a","phx_join",{}]`)
	c.collect(1)
	got := make(chan lpResp, 1)
	go func() {
		code, body := c.do(http.MethodGet, "", "", nil)
		var r lpResp
		if code != 200 || json.Unmarshal([]byte(body), &r) != nil {
			r.Status = -code
		}
		got <- r
	}()
	waitFor(t, func() bool {
		id, _ := srv.lp.tokens.sessionID(c.token)
		ss := srv.lp.get(id)
		return ss != nil && !ss.idleSince(time.Now().Add(time.Hour))
	})
	if err := srv.Broadcast("users_socket:u1", "disconnect", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.Status != 403 || r.Messages != nil || r.Token != "" {
			t.Fatalf("held poll of the kicked session: %+v, want {\"status\":403}", r)
		}
	case <-time.After(4 * time.Second):
		t.Fatalf("the held poll was not answered when the session was kicked")
	}
	if n := srv.LongPollSessions(); n != 0 {
		t.Fatalf("%d sessions left after the kicked client was told", n)
	}
	if code, body := c.do(http.MethodPost, `["1","2","room:a","echo",{}]`, "application/x-ndjson", nil); code != 200 || body != `{"status":410}` {
		t.Fatalf("POST of the kicked session: %d %s, want {\"status\":410}", code, body)
	}
}

// genBody yields n bytes of 'x' on demand (no n-byte buffer in the test)
// and counts what the server read.
type genBody struct {
	left int64
	read *atomic.Int64
}

func (g *genBody) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), g.left)
	for i := range p[:k] {
		p[i] = 'x'
	}
	g.left -= k
	g.read.Add(k)
	return int(k), nil
}

// 40 concurrent 8 MiB POSTs (the attack that took 400 MB): refused with 413
// before their body is read when its length is declared, and after at
// most MaxBody bytes when it is chunked; each closes its session.
func TestLongPollOversizedPostAttack(t *testing.T) {
	srv, _ := lpCountingServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond, Idle: time.Minute}})
	const n, size = 40, 8 << 20
	limit := srv.lp.cfg.MaxBody
	if limit != 1<<20 {
		t.Fatalf("default MaxBody %d, want the WebSocket frame limit 1 MiB", limit)
	}
	for _, declared := range []bool{true, false} {
		t.Run(fmt.Sprintf("declared=%v", declared), func(t *testing.T) {
			var tokens []string
			for range n {
				c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
				c.open()
				tokens = append(tokens, c.token)
			}
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			var wg sync.WaitGroup
			reads := make([]atomic.Int64, n)
			codes := make([]int, n)
			bodies := make([]string, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					req := httptest.NewRequest(http.MethodPost, "/socket/longpoll?vsn=2.0.0", &genBody{left: size, read: &reads[i]})
					req.ContentLength = -1
					if declared {
						req.ContentLength = size
					}
					req.Header.Set("Content-Type", "application/x-ndjson")
					req.Header.Set("X-Phoenix-Longpoll-Token", tokens[i])
					rec := httptest.NewRecorder()
					srv.ServeHTTP(rec, req)
					codes[i], bodies[i] = rec.Code, rec.Body.String()
				}()
			}
			wg.Wait()
			runtime.ReadMemStats(&ms1)
			tooLarge := 0
			for i := range n {
				switch {
				case codes[i] == 413 && bodies[i] == `{"status":413}`:
					tooLarge++
				case codes[i] == 503 && !declared: // over BodyBudget: refused unread
				default:
					t.Fatalf("POST %d: HTTP %d %q, want 413 {\"status\":413}", i, codes[i], bodies[i])
				}
				r := reads[i].Load()
				if declared && r != 0 {
					t.Errorf("POST %d declared %d bytes: the server read %d, want none", i, size, r)
				}
				if r > limit+64<<10 {
					t.Errorf("POST %d: the server read %d bytes, want ≤ MaxBody %d (+ one read)", i, r, limit)
				}
			}
			if tooLarge == 0 {
				t.Fatalf("no POST was answered 413")
			}
			// every allocation made while the 40 POSTs ran (generous: about
			// 2 MiB each without -race; bodies of 8 MiB read whole would
			// allocate 640 MiB and more)
			if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > n*6<<20 {
				t.Errorf("%d oversized POSTs allocated %d MiB, want ≤ %d MiB", n, alloc>>20, n*6)
			}
			t.Logf("%d POSTs of %d MiB: %d answered 413, %d KB allocated", n, size>>20, tooLarge, (ms1.TotalAlloc-ms0.TotalAlloc)>>10)
			for i := range n {
				if codes[i] != 413 {
					continue
				}
				c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0", token: tokens[i]}
				if code, body := c.do(http.MethodPost, `["1","1","room:a","phx_join",{}]`, "application/x-ndjson", nil); code != 200 || body != `{"status":410}` {
					t.Fatalf("POST after a 413: %d %s, want the session closed ({\"status\":410})", code, body)
				}
			}
		})
	}
}

// blockingBody sends its bytes only once released.
type blockingBody struct {
	r       *strings.Reader
	release <-chan struct{}
}

func (b *blockingBody) Read(p []byte) (int, error) {
	<-b.release
	return b.r.Read(p)
}

// POST bodies in flight share BodyBudget: with it full, a POST is refused
// (503, Retry-After) before its body is read; the budget comes back when
// the bodies are handled.
func TestLongPollBodyBudget(t *testing.T) {
	const maxBody, held = 1024, 4
	srv, _ := lpCountingServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond,
		Idle: time.Minute, MaxBody: maxBody, BodyBudget: held * maxBody}})
	line := `["1","1","phoenix","heartbeat",{"pad":"`
	line += strings.Repeat("x", maxBody-len(line)-3) + `"}]`
	if len(line) != maxBody {
		t.Fatalf("line of %d bytes", len(line))
	}
	release := make(chan struct{})
	var wg sync.WaitGroup
	codes := make([]int, held)
	for i := range held {
		postInBackground(t, srv, &wg, &blockingBody{r: strings.NewReader(line), release: release}, maxBody, &codes[i])
	}
	waitFor(t, func() bool { return srv.lp.bodies.Load() == held*maxBody })
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	req := httptest.NewRequest(http.MethodPost, "/socket/longpoll?vsn=2.0.0", strings.NewReader(`["1","2","phoenix","heartbeat",{}]`))
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("X-Phoenix-Longpoll-Token", c.token)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || rec.Body.String() != `{"status":503}` {
		t.Fatalf("POST with the body budget full: HTTP %d %q, want 503 {\"status\":503} with Retry-After", rec.Code, rec.Body.String())
	}
	close(release)
	wg.Wait()
	for i, code := range codes {
		if code != 200 {
			t.Errorf("held POST %d: HTTP %d, want 200", i, code)
		}
	}
	if n := srv.lp.bodies.Load(); n != 0 {
		t.Fatalf("%d body bytes still counted after every POST ended", n)
	}
	if body := c.post(`["1","3","phoenix","heartbeat",{}]`); body != `{"status":200}` {
		t.Fatalf("POST after the budget came back: %s", body)
	}
}

// The documented defaults of the limits: a loosened one is a hole.
func TestLongPollLimitDefaults(t *testing.T) {
	c := LongPollConfig{}.withDefaults(0)
	if c.MaxSessions != 10_000 || c.MaxBody != 1<<20 || c.BodyBudget != 32<<20 || c.MaxBuffer != 4<<20 {
		t.Fatalf("defaults: MaxSessions %d, MaxBody %d, BodyBudget %d, MaxBuffer %d; want 10,000, 1 MiB, 32 MiB, 4 MiB",
			c.MaxSessions, c.MaxBody, c.BodyBudget, c.MaxBuffer)
	}
	// MaxBody follows the WebSocket message limit; the budget holds one body
	if c := (LongPollConfig{BodyBudget: 1}).withDefaults(64 << 20); c.MaxBody != 64<<20 || c.BodyBudget != c.MaxBody {
		t.Fatalf("with a 64 MiB frame limit: MaxBody %d, BodyBudget %d", c.MaxBody, c.BodyBudget)
	}
}

// postInBackground opens a session on srv and serves, on a goroutine of
// wg, one NDJSON POST with body (declared as n bytes); its HTTP status
// lands in *code.
func postInBackground(t *testing.T, srv *Server, wg *sync.WaitGroup, body io.Reader, n int64, code *int) {
	t.Helper()
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	req := httptest.NewRequest(http.MethodPost, "/socket/longpoll?vsn=2.0.0", nil)
	req.Body = io.NopCloser(body)
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("X-Phoenix-Longpoll-Token", c.token)
	wg.Go(func() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		*code = rec.Code
	})
}
