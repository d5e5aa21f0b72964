package phx

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type lpResp struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

type lpClient struct {
	t     *testing.T
	srv   *Server
	query string
	token string
}

func newLPServer(t *testing.T, cfg Config) *Server {
	cfg.Connect = testConnect
	srv := newServerForTest(t, cfg)
	srv.Channel("room:*", &testChannel{})
	return srv
}

func (c *lpClient) do(method, body, contentType string, header http.Header) (int, string) {
	c.t.Helper()
	req := httptest.NewRequest(method, "/socket/longpoll?"+c.query, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("X-Phoenix-Longpoll-Token", c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	c.srv.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func (c *lpClient) get() lpResp {
	c.t.Helper()
	code, body := c.do(http.MethodGet, "", "", nil)
	if code != 200 {
		c.t.Fatalf("GET: HTTP %d %s", code, body)
	}
	var r lpResp
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		c.t.Fatalf("GET body %q: %v", body, err)
	}
	return r
}

func (c *lpClient) post(lines ...string) string {
	c.t.Helper()
	code, body := c.do(http.MethodPost, strings.Join(lines, "\n"), "application/x-ndjson", nil)
	if code != 200 {
		c.t.Fatalf("POST: HTTP %d %s", code, body)
	}
	return body
}

func (c *lpClient) open() {
	c.t.Helper()
	c.token = ""
	r := c.get()
	if r.Status != 410 || r.Token == "" || r.Messages == nil {
		c.t.Fatalf("session GET: %+v", r)
	}
	c.token = r.Token
}

// collect polls until n messages arrived.
func (c *lpClient) collect(n int) []string {
	c.t.Helper()
	var all []string
	for len(all) < n {
		r := c.get()
		switch r.Status {
		case 200:
			all = append(all, r.Messages...)
		case 204:
		default:
			c.t.Fatalf("poll status %d, have %v", r.Status, all)
		}
	}
	return all
}

func TestLongPollSession(t *testing.T) {
	srv := newLPServer(t, Config{LongPoll: LongPollConfig{Window: 50 * time.Millisecond}})
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	if r := c.get(); r.Status != 204 || r.Token != c.token {
		t.Fatalf("empty poll: %+v", r)
	}
	if body := c.post(`["1","1","room:a","phx_join",{}]`, `["1","2","room:a","echo",{"x":"<&>"}]`); body != `{"status":200}` {
		t.Fatalf("POST body %s", body)
	}
	got := c.collect(2)
	want := []string{
		`["1","1","room:a","phx_reply",{"response":{"n":1},"status":"ok"}]`,
		`["1","2","room:a","phx_reply",{"response":{"x":"<&>"},"status":"ok"}]`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("messages\n got %q\nwant %q", got, want)
	}
	// broadcasts reach LongPoll sockets; binary frames in a POST are base64
	if err := srv.Broadcast("room:a", "hello", map[string]int{"v": 1}); err != nil {
		t.Fatal(err)
	}
	if got := c.collect(1); got[0] != `[null,null,"room:a","hello",{"v":1}]` {
		t.Fatalf("broadcast %q", got)
	}
	bin := "\x00\x01\x01\x06\x06" + "13" + "room:a" + "binary" + "\xde\xad"
	c.post(base64.StdEncoding.EncodeToString([]byte(bin)))
	if got := c.collect(1); !strings.Contains(got[0], `"status"`) {
		t.Fatalf("binary push reply %q", got)
	}
}

func TestLongPollTokens(t *testing.T) {
	srv := newLPServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond}})
	// the app's own `token` param comes first; the session token is last
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	tok := c.token
	c.token = ""
	c.query = "token=good&vsn=2.0.0&token=" + tok
	if r := c.get(); r.Status != 204 || r.Token != tok {
		t.Fatalf("query token poll: %+v", r)
	}
	forged := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0", token: tok[:len(tok)-2] + "AA"}
	if code, body := forged.do(http.MethodPost, `["1","1","room:a","phx_join",{}]`, "application/x-ndjson", nil); code != 200 || body != `{"status":410}` {
		t.Fatalf("forged POST: %d %s", code, body)
	}
	if r := forged.get(); r.Status != 410 || r.Token == tok {
		t.Fatalf("forged GET should create a new session: %+v", r)
	}
}

func TestLongPollRejected(t *testing.T) {
	srv := newLPServer(t, Config{})
	c := &lpClient{t: t, srv: srv, query: "token=nope&vsn=2.0.0"}
	r := c.get()
	if r.Status != 200 || len(r.Messages) != 1 || r.Token == "" {
		t.Fatalf("rejected GET: %+v", r)
	}
	if r.Messages[0] != `[null,null,"phoenix","phx_connect_error",{"reason":"unauthorized"}]` {
		t.Fatalf("message %q", r.Messages[0])
	}
	c.token = r.Token
	start := time.Now()
	if r := c.get(); r.Status != 403 {
		t.Fatalf("second GET: %+v", r)
	}
	if elapsed := time.Since(start); elapsed < rejectDelay {
		t.Fatalf("403 after %v, must wait at least %v", elapsed, rejectDelay)
	}
	if n := srv.lp.count(); n != 0 {
		t.Fatalf("%d sessions kept for a rejected client", n)
	}
	httpMode := newLPServer(t, Config{RejectMode: RejectHTTP})
	hc := &lpClient{t: t, srv: httpMode, query: "token=nope&vsn=2.0.0"}
	if r := hc.get(); r.Status != 403 || r.Messages != nil {
		t.Fatalf("http mode: %+v", r)
	}
}

func TestLongPollBadInput(t *testing.T) {
	srv := newLPServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond, Idle: time.Minute}})
	good := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	good.open()
	good.post(`["1","1","room:a","phx_join",{}]`)
	good.collect(1)
	bad := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	bad.open()
	cases := []struct {
		name, body, ctype string
		code              int
	}{
		{"not base64", "!!!not base64", "application/x-ndjson", 400},
		{"bad json", `["1",`, "application/x-ndjson", 400},
		{"too large", strings.Repeat("x", 1<<20+1), "text/plain", 413},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bad.t = t
			bad.open()
			code, body := bad.do(http.MethodPost, tc.body, tc.ctype, nil)
			if code != tc.code {
				t.Fatalf("HTTP %d %s, want %d", code, body, tc.code)
			}
		})
	}
	bad.t = t
	if code, _ := bad.do(http.MethodDelete, "", "", nil); code != 400 {
		t.Fatalf("DELETE: %d", code)
	}
	code, _ := bad.do(http.MethodOptions, "", "", http.Header{"Access-Control-Request-Headers": {"x-phoenix-longpoll-token"}})
	if code != 200 {
		t.Fatalf("OPTIONS: %d", code)
	}
	good.post(`["1","2","room:a","echo",{"ok":true}]`)
	if got := good.collect(1); !strings.Contains(got[0], `{"ok":true}`) {
		t.Fatalf("other session disturbed: %q", got)
	}
}

func TestLongPollExpiryAndLimits(t *testing.T) {
	srv := newLPServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond,
		Idle: 50 * time.Millisecond, MaxBuffer: 200}})
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	waitFor(t, func() bool { return srv.lp.count() == 0 })
	if code, body := c.do(http.MethodPost, `["1","1","room:a","phx_join",{}]`, "application/x-ndjson", nil); code != 200 || body != `{"status":410}` {
		t.Fatalf("POST to expired session: %d %s", code, body)
	}
	// a client that never collects its messages is dropped at MaxBuffer
	srv = newLPServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond,
		Idle: time.Minute, MaxBuffer: 200}})
	slow := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	slow.open()
	slow.post(`["1","1","room:b","phx_join",{}]`)
	waitFor(t, func() bool { return srv.pubsub.Subscribers("room:b") == 1 })
	id, _ := srv.lp.tokens.sessionID(slow.token)
	ss := srv.lp.get(id)
	for range 10 {
		_ = srv.Broadcast("room:b", "spam", map[string]string{"pad": strings.Repeat("x", 40)})
	}
	waitFor(t, func() bool { return srv.pubsub.Subscribers("room:b") == 0 })
	// the queue is discarded at once, and the client learns it was dropped
	ss.mu.Lock()
	queued, bytes := len(ss.buf), ss.bufBytes
	ss.mu.Unlock()
	if queued != 0 || bytes != 0 {
		t.Fatalf("a dropped slow consumer keeps %d messages (%d bytes) queued", queued, bytes)
	}
	if r := slow.get(); r.Status != 403 {
		t.Fatalf("poll of the dropped slow consumer: %+v, want 403", r)
	}
}

// A poll naming a session that is gone (expired, or not this process's:
// a restart with the same Secret) gets {"status":403}, as from Phoenix,
// whose connect sees the session token as the last `token` param and
// refuses it: every phoenix.js version then reports an error, closes and
// reconnects through connect, rejoining its channels (a 410 would make
// 1.7 adopt a new session silently, its channels dead). The poll creates
// nothing and runs no Connect; the client's reconnect (no session token)
// gets a session.
func TestLongPollGoneSessionPoll403(t *testing.T) {
	srv, calls := lpCountingServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond, Idle: 50 * time.Millisecond}})
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	expired := c.token
	waitFor(t, func() bool { return srv.lp.count() == 0 })
	_, never := srv.lp.tokens.newSession() // signed here, never a session
	for _, tok := range []string{expired, never} {
		// ≤ 1.8: the app's token param, then the session token last
		q := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0&token=" + tok}
		// 1.9: the session token in the header
		h := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0", token: tok}
		for _, cl := range []*lpClient{q, h} {
			if code, body := cl.do(http.MethodGet, "", "", nil); code != 200 || body != `{"status":403}` {
				t.Fatalf("GET naming a gone session: HTTP %d %s, want {\"status\":403}", code, body)
			}
		}
		// a POST is answered as by Phoenix, whose POST never connects
		if code, body := h.do(http.MethodPost, `["1","1","room:a","phx_join",{}]`, "application/x-ndjson", nil); code != 200 || body != `{"status":410}` {
			t.Fatalf("POST naming a gone session: HTTP %d %s, want {\"status\":410}", code, body)
		}
	}
	if n, live := calls.Load(), srv.LongPollSessions(); n != 1 || live != 0 {
		t.Fatalf("after the polls of gone sessions: %d Connects, %d sessions; want 1 (the first), 0", n, live)
	}
	c.open()
	if n := calls.Load(); n != 2 {
		t.Fatalf("the reconnect ran Connect %d times in all, want 2", n)
	}
}

// A ≤1.8 client polling with an expired reject token as the last `token`
// param gets a session: connect sees the app's own `token` param, not the
// stale reject token.
func TestLongPollExpiredRejectTokenConnectsWithAppToken(t *testing.T) {
	srv := newLPServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond}})
	tok := srv.lp.tokens.newReject(time.Now().Add(-2*rejectTokenTTL), rejectTokenTTL)
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0&token=" + tok}
	if r := c.get(); r.Status != 410 || r.Token == "" || r.Token == tok {
		t.Fatalf("GET with an expired reject token: %+v, want 410 and a new session token", r)
	}
	if got := dropLastParam("token=a&vsn=2.0.0&token=b", "token"); got != "token=a&vsn=2.0.0" {
		t.Errorf("dropLastParam: %q", got)
	}
	if got := dropLastParam("vsn=2.0.0&%74oken=b&x=1", "token"); got != "vsn=2.0.0&x=1" {
		t.Errorf("dropLastParam (escaped key): %q", got)
	}
}

// An undecodable POST body closes its session, like an undecodable
// WebSocket frame; the closed session takes no more POSTs (410), and its
// client learns it at its next poll: what was queued comes with a reject
// token, and the poll after gets 403 (the session the server ended).
func TestLongPollBadBodyClosesSession(t *testing.T) {
	srv := newLPServer(t, Config{LongPoll: LongPollConfig{Window: 20 * time.Millisecond}})
	for _, bad := range []string{"not base64!", `["1","2","room:a","echo",{`} {
		c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
		c.open()
		c.post(`["1","1","room:a","phx_join",{}]`)
		if code, body := c.do(http.MethodPost, bad, "application/x-ndjson", nil); code != http.StatusBadRequest {
			t.Fatalf("POST %q: HTTP %d %s, want 400", bad, code, body)
		}
		if code, body := c.do(http.MethodPost, `["1","3","room:a","echo",{}]`, "application/x-ndjson", nil); code != 200 || body != `{"status":410}` {
			t.Fatalf("POST after %q: %d %s, want {\"status\":410}", bad, code, body)
		}
		r := c.get()
		if r.Status == 200 { // what was queued before the close
			if r.Token == c.token {
				t.Fatalf("the ended session's last messages came with its own token: %+v", r)
			}
			c.token = r.Token
			r = c.get()
		}
		if r.Status != 403 {
			t.Fatalf("GET after %q: %+v, want 403", bad, r)
		}
		if n := srv.lp.count(); n != 0 {
			t.Fatalf("%d sessions kept after the client was told", n)
		}
	}
}

// A session that ends right after a poll delivered messages answers the
// next poll's 403 no sooner than rejectDelay after that delivery
// (phoenix.js would cancel the messages' dispatch on the 403).
func TestLongPollGoneAfterDeliveryWaits(t *testing.T) {
	srv := newLPServer(t, Config{LongPoll: LongPollConfig{Window: time.Second}})
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	c.post(`["1","1","room:a","phx_join",{}]`)
	c.collect(1)
	delivered := time.Now()
	srv.lp.mu.Lock()
	var ss *lpSession
	for _, s := range srv.lp.sessions {
		ss = s
	}
	srv.lp.mu.Unlock()
	ss.close(CloseGoingAway, "")
	r := c.get()
	if r.Status != 403 || r.Messages != nil {
		t.Fatalf("poll of the ended session: %+v, want 403", r)
	}
	if d := time.Since(delivered); d < rejectDelay/2 {
		t.Errorf("403 %v after the last delivery, want about %v", d, rejectDelay)
	}
}
