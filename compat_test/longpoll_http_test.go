package compat_test

// The /socket/longpoll endpoint driven with net/http (Phoenix's LongPoll
// protocol, and phxd's answer to a rejected connect): tokens in the header and the query, malformed,
// oversized and over-long POSTs, forged, expired and ended sessions, CORS
// preflight, one bad client next to good ones, and the session limit.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var lpHTTPClient = &http.Client{Timeout: 30 * time.Second}

// lpConn is a hand-driven LongPoll client.
type lpConn struct {
	t      *testing.T
	srv    *phxd
	query  string // connect params
	token  string
	header bool // send the token as X-Phoenix-Longpoll-Token, else as the last ?token=

	lastGet time.Time // when the last poll was sent (before the server saw it)
}

type lpBody struct {
	Status   int       `json:"status"`
	Token    string    `json:"token"`
	Messages *[]string `json:"messages"`
}

// lpMsg is one V2 frame out of "messages".
type lpMsg struct {
	JoinRef, Ref, Topic, Event string // JSON text of refs; plain topic and event
	Payload                    json.RawMessage
}

func newLPConn(t *testing.T, srv *phxd, user string) *lpConn {
	return &lpConn{t: t, srv: srv, query: "token=user:" + user + "&vsn=2.0.0"}
}

func (c *lpConn) url() string {
	u := "http://" + c.srv.addr + "/socket/longpoll?" + c.query
	if c.token != "" && !c.header {
		u += "&token=" + c.token
	}
	return u
}

// try sends one request; it never fails the test (for goroutines).
func (c *lpConn) try(method string, body []byte, hdr http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, c.url(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" && c.header {
		req.Header.Set("X-Phoenix-Longpoll-Token", c.token)
	}
	resp, err := lpHTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func (c *lpConn) do(method string, body []byte, hdr http.Header) (*http.Response, []byte) {
	c.t.Helper()
	resp, b, err := c.try(method, body, hdr)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, c.url(), err)
	}
	return resp, b
}

// get polls; the answer must be an HTTP 200 with a JSON body.
func (c *lpConn) get() lpBody {
	c.t.Helper()
	c.lastGet = time.Now()
	resp, b := c.do(http.MethodGet, nil, http.Header{"Accept": {"application/json"}})
	var body lpBody
	if resp.StatusCode != 200 || json.Unmarshal(b, &body) != nil {
		c.t.Fatalf("GET: HTTP %d %q, want 200 with a JSON body", resp.StatusCode, b)
	}
	return body
}

// post sends lines as an NDJSON batch and returns the HTTP status and body.
func (c *lpConn) post(lines ...string) (int, string) {
	c.t.Helper()
	resp, b := c.do(http.MethodPost, []byte(strings.Join(lines, "\n")), http.Header{"Content-Type": {"application/x-ndjson"}})
	return resp.StatusCode, string(b)
}

func (c *lpConn) mustPost(lines ...string) {
	c.t.Helper()
	if code, body := c.post(lines...); code != 200 || body != `{"status":200}` {
		c.t.Fatalf("POST: HTTP %d %s, want {\"status\":200}", code, body)
	}
}

// open creates a session: {"status":410,"token":T,"messages":[]}.
func (c *lpConn) open() {
	c.t.Helper()
	c.token = ""
	r := c.get()
	if r.Status != 410 || r.Token == "" || r.Messages == nil || len(*r.Messages) != 0 {
		c.t.Fatalf("session-creating GET: %+v, want status 410, a token, no messages", r)
	}
	c.token = r.Token
}

// collect polls until done(all messages so far) or a 204 once done is nil;
// any status but 200 and 204 fails. Bounded by 15 s.
func (c *lpConn) collect(done func([]lpMsg) bool) []lpMsg {
	c.t.Helper()
	var all []lpMsg
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r := c.get()
		switch r.Status {
		case 200:
			if r.Token != c.token {
				c.t.Fatalf("poll answered token %q, want the session's %q", r.Token, c.token)
			}
			for _, m := range *r.Messages {
				all = append(all, decodeLPMsg(c.t, m))
			}
		case 204:
			if done == nil {
				return all
			}
		default:
			c.t.Fatalf("poll: %+v (messages so far %v)", r, all)
		}
		if done != nil && done(all) {
			return all
		}
	}
	c.t.Fatalf("collect: condition not met within 15 s; got %v", all)
	return nil
}

func decodeLPMsg(t *testing.T, s string) lpMsg {
	t.Helper()
	var f []json.RawMessage
	if err := json.Unmarshal([]byte(s), &f); err != nil || len(f) != 5 {
		t.Fatalf("message %q is not a V2 frame", s)
	}
	var m lpMsg
	m.JoinRef, m.Ref, m.Payload = string(f[0]), string(f[1]), f[4]
	_ = json.Unmarshal(f[2], &m.Topic)
	_ = json.Unmarshal(f[3], &m.Event)
	return m
}

func hasReply(ref string) func([]lpMsg) bool {
	return func(ms []lpMsg) bool {
		return slices.ContainsFunc(ms, func(m lpMsg) bool { return m.Event == "phx_reply" && m.Ref == q(ref) })
	}
}

func replyTo(ms []lpMsg, ref string) *lpMsg {
	for i := range ms {
		if ms[i].Event == "phx_reply" && ms[i].Ref == q(ref) {
			return &ms[i]
		}
	}
	return nil
}

// joinLP opens a session and joins topic with join_ref "1".
func joinLP(t *testing.T, srv *phxd, user, topic string) *lpConn {
	t.Helper()
	c := newLPConn(t, srv, user)
	c.open()
	c.mustPost(v2(q("1"), q("1"), topic, "phx_join", `{}`))
	if r := replyTo(c.collect(hasReply("1")), "1"); !jsonEqual(r.Payload, []byte(reply("ok", `{}`))) {
		t.Fatalf("join %s: %s", topic, r.Payload)
	}
	return c
}

// expectGone checks that c's session takes no POST (410, as Phoenix) and
// that its next poll gets {"status":403}: for a session the server ended
// (as Phoenix answers a killed session; messages queued before the end
// come first, with a token that is not the session's) and for one that
// expired alike (Phoenix runs connect with the poll's params, whose last
// `token` is the session token, not the app's, and refuses it), so that
// phoenix.js reconnects and rejoins. The client's reconnect, a poll with
// no session token, then gets a new session.
func (c *lpConn) expectGone(what string, ended bool) {
	c.t.Helper()
	if code, body := c.post(v2(q("1"), q("99"), "room:x", "echo", `{}`)); code != 200 || body != `{"status":410}` {
		c.t.Errorf("%s: POST got HTTP %d %s, want {\"status\":410}", what, code, body)
	}
	r := c.get()
	if ended && r.Status == 200 { // messages queued before the session ended
		if r.Token == c.token {
			c.t.Errorf("%s: the ended session's last messages came with its own token", what)
		}
		c.token = r.Token
		r = c.get()
	}
	if r.Status != 403 || r.Messages != nil || r.Token != "" {
		c.t.Errorf("%s: GET got %+v, want {\"status\":403}", what, r)
	}
	old := c.token
	c.token = ""
	if r := c.get(); r.Status != 410 || r.Token == "" || r.Token == old {
		c.t.Errorf("%s: the reconnect's GET got %+v, want 410 with a new session token", what, r)
	}
}

// lpMaxBody is phxd's POST body limit: -max-frame, 1 MiB by default.
const lpMaxBody = 1 << 20

// flip changes the character at i (a forged token).
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestLongPollHTTP(t *testing.T) {
	t.Parallel()
	// Short window (a 204 comes quickly) and idle time (expiry is seen
	// quickly), with room for a loaded machine between a test's requests.
	srv := startServer(t, "-longpoll-window", "1s", "-longpoll-idle", "4s", "-reject-brake", "-1s")

	// Session creation, poll window, Phoenix's headers, Phoenix's body keys.
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		c := newLPConn(t, srv, uniq("lps"))
		resp, b := c.do(http.MethodGet, nil, nil)
		for k, v := range map[string]string{"Content-Type": "application/json; charset=utf-8",
			"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("header %s: %q, want %q", k, got, v)
			}
		}
		if resp.StatusCode != 200 || !hasKeys(b, "messages", "status", "token") {
			t.Fatalf("session GET: HTTP %d %s, want 200 with messages, status, token", resp.StatusCode, b)
		}
		var r lpBody
		_ = json.Unmarshal(b, &r)
		if r.Status != 410 || r.Token == "" || r.Messages == nil || len(*r.Messages) != 0 {
			t.Fatalf("session GET: %s", b)
		}
		c.token = r.Token
		if r := c.get(); r.Status != 204 || r.Token != c.token || len(*r.Messages) != 0 {
			t.Errorf("idle poll: %+v, want 204 with the same token after the window", r)
		}
	})

	// The session token as the 1.9 header and as the last ?token= (after the
	// app's own token param); the header wins over the query.
	t.Run("token header and query", func(t *testing.T) {
		t.Parallel()
		user := uniq("lpt")
		topic := "room:" + user
		c := newLPConn(t, srv, user)
		c.open()
		c.header = true
		c.mustPost(v2(q("1"), q("1"), topic, "phx_join", `{}`))
		c.collect(hasReply("1"))
		c.header = false // ?token=user:…&vsn=2.0.0&token=<session>
		c.mustPost(v2(q("1"), q("2"), topic, "echo", `{"via":"query"}`))
		if r := replyTo(c.collect(hasReply("2")), "2"); !jsonEqual(r.Payload, []byte(reply("ok", `{"via":"query"}`))) {
			t.Errorf("echo with the query token: %s", r.Payload)
		}
		c.header = true
		c.query += "&token=bogus" // a query token that is not ours: the header counts
		c.mustPost(v2(q("1"), q("3"), topic, "echo", `{"via":"header"}`))
		if r := replyTo(c.collect(hasReply("3")), "3"); !jsonEqual(r.Payload, []byte(reply("ok", `{"via":"header"}`))) {
			t.Errorf("echo with the header token: %s", r.Payload)
		}
	})

	// A rejected connect: the first GET delivers the phx_connect_error
	// message with a reject token, the next answers {"status":403}; nothing
	// is kept (a POST with the reject token is 410).
	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		for _, tc := range rejectCases {
			c := &lpConn{t: t, srv: srv, query: "vsn=2.0.0"}
			if tc.token != nil {
				c.query = "token=" + *tc.token + "&vsn=2.0.0"
			}
			r := c.get()
			want := v2("null", "null", "phoenix", "phx_connect_error", tc.payload)
			if r.Status != 200 || r.Token == "" || r.Messages == nil || len(*r.Messages) != 1 ||
				!jsonEqual([]byte((*r.Messages)[0]), []byte(want)) {
				t.Errorf("%s: first GET %+v, want status 200, a reject token, messages [%s]", tc.name, r, want)
				continue
			}
			c.token = r.Token
			start := time.Now()
			_, b := c.do(http.MethodGet, nil, nil)
			if string(b) != `{"status":403}` {
				t.Errorf("%s: GET with the reject token: %s, want {\"status\":403}", tc.name, b)
			}
			// A deterministic lower bound: start precedes the GET's arrival.
			if d := time.Since(start); d < 100*time.Millisecond {
				t.Errorf("%s: 403 after %v, want ≥ 100 ms after the GET arrives (phoenix.js would drop the message)", tc.name, d)
			}
			if code, body := c.post(v2(q("1"), q("1"), "room:lobby", "phx_join", `{}`)); code != 200 || body != `{"status":410}` {
				t.Errorf("%s: POST with the reject token: HTTP %d %s, want {\"status\":410}", tc.name, code, body)
			}
		}
	})

	// Undecodable POST bodies: HTTP 400 and the session is closed.
	t.Run("malformed body", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ name, line string }{
			{"bad base64 line", "%%% not base64 %%%"},
			{"invalid JSON line", `["1","3","room:x","echo",{`},
			{"JSON object line", `{"topic":"room:x"}`}, // not '[': decoded as base64
		} {
			user := uniq("lpm")
			c := joinLP(t, srv, user, "room:"+user)
			code, body := c.post(v2(q("1"), q("2"), "room:"+user, "echo", `{}`), tc.line)
			if code != http.StatusBadRequest {
				t.Errorf("%s: HTTP %d %s, want 400", tc.name, code, body)
			}
			c.expectGone(tc.name, true)
		}
	})

	// A body over -max-frame (1 MiB, the WebSocket message limit): HTTP 413
	// {"status":413} and the session is closed, as a WebSocket message over
	// the limit closes its socket (1009). One just under it is handled.
	t.Run("oversized body", func(t *testing.T) {
		t.Parallel()
		user := uniq("lpo")
		c := joinLP(t, srv, user, "room:"+user)
		frame := func(n int) string {
			head := v2(q("1"), q("2"), "room:"+user, "echo", `{"pad":"`)
			head = head[:len(head)-1] // without the closing ]
			return head + strings.Repeat("x", n-len(head)-3) + `"}]`
		}
		if fits := frame(lpMaxBody); len(fits) != lpMaxBody {
			t.Fatalf("frame of %d bytes", len(fits))
		} else {
			c.mustPost(fits)
			c.collect(hasReply("2"))
		}
		over := frame(lpMaxBody + 1)
		if code, body := c.post(over); code != http.StatusRequestEntityTooLarge || body != `{"status":413}` {
			t.Errorf("%d-byte body: HTTP %d %.200s, want 413 {\"status\":413}", len(over), code, body)
		}
		c.expectGone("oversized body", true)
	})

	// Forged tokens: a POST gets {"status":410} (never a session); a GET
	// gets a new session; the real session is untouched.
	t.Run("forged token", func(t *testing.T) {
		t.Parallel()
		user := uniq("lpf")
		topic := "room:" + user
		real := joinLP(t, srv, user, topic)
		tok := real.token
		for _, forged := range []string{flip(tok, len(tok)-1), flip(tok, 3), tok[:len(tok)-4], "", "not-a-token",
			base64.RawURLEncoding.EncodeToString(append([]byte{'s'}, make([]byte, 32)...))} {
			for _, header := range []bool{false, true} {
				f := &lpConn{t: t, srv: srv, query: real.query, token: forged, header: header}
				if code, body := f.post(v2(q("1"), q("2"), topic, "echo", `{}`)); code != 200 || body != `{"status":410}` {
					t.Errorf("POST with token %q (header %v): HTTP %d %s, want {\"status\":410}", forged, header, code, body)
				}
			}
		}
		f := &lpConn{t: t, srv: srv, query: real.query, token: flip(tok, len(tok)-1), header: true}
		if r := f.get(); r.Status != 410 || r.Token == "" || r.Token == tok {
			t.Errorf("GET with a forged header token: %+v, want a new session", r)
		}
		real.mustPost(v2(q("1"), q("2"), topic, "echo", `{"still":"mine"}`))
		if r := replyTo(real.collect(hasReply("2")), "2"); !jsonEqual(r.Payload, []byte(reply("ok", `{"still":"mine"}`))) {
			t.Errorf("the real session after the forgeries: %s", r.Payload)
		}
	})

	// A session that is not polled expires (-longpoll-idle 4s): POSTs get
	// 410 (a POST does not keep it alive), a poll gets 403.
	t.Run("expired session", func(t *testing.T) {
		t.Parallel()
		user := uniq("lpx")
		c := joinLP(t, srv, user, "room:"+user)
		start := c.lastGet // no later than the server's last sight of a poll
		var expired time.Duration
		for i := 0; expired == 0 && time.Since(start) < 15*time.Second; i++ {
			time.Sleep(250 * time.Millisecond)
			code, body := c.post(v2(q("1"), q(fmt.Sprint(10+i)), "room:"+user, "echo", `{}`))
			switch {
			case code == 200 && body == `{"status":410}`:
				expired = time.Since(start)
			case code != 200 || body != `{"status":200}`:
				t.Fatalf("POST while waiting for expiry: HTTP %d %s", code, body)
			}
		}
		if expired == 0 {
			t.Fatalf("the session did not expire within 15 s of its last poll (-longpoll-idle 4s)")
		}
		t.Logf("expired %v after the last poll", expired.Round(time.Millisecond))
		// A deterministic lower bound: start precedes the last poll's arrival.
		if expired < 4*time.Second {
			t.Errorf("expired %v after the last poll, before -longpoll-idle 4s", expired)
		}
		c.expectGone("expired session", false)
	})

	// Only the first 100 lines of a POST are handled, in order.
	t.Run("more than 100 lines", func(t *testing.T) {
		t.Parallel()
		user := uniq("lpl")
		topic := "room:" + user
		c := joinLP(t, srv, user, topic)
		lines := make([]string, 105)
		for i := range lines {
			lines[i] = v2(q("1"), q(fmt.Sprintf("e%d", i+1)), topic, "echo", fmt.Sprintf(`{"n":%d}`, i+1))
		}
		c.mustPost(lines...)
		ms := c.collect(hasReply("e100"))
		ms = append(ms, c.collect(nil)...) // until a 204: nothing more may come
		var got []string
		for _, m := range ms {
			if m.Event == "phx_reply" && strings.HasPrefix(m.Ref, `"e`) {
				got = append(got, m.Ref)
			}
		}
		want := make([]string, 100)
		for i := range want {
			want[i] = q(fmt.Sprintf("e%d", i+1))
		}
		if !slices.Equal(got, want) {
			t.Errorf("replies to a 105-line POST: %d %v, want the first 100 in order", len(got), got)
		}
	})

	// CORS preflight (answered as Phoenix does) and other methods.
	t.Run("preflight", func(t *testing.T) {
		t.Parallel()
		c := newLPConn(t, srv, uniq("lpp"))
		resp, b := c.do(http.MethodOptions, nil, http.Header{"Origin": {"https://app.example"},
			"Access-Control-Request-Method":  {"POST"},
			"Access-Control-Request-Headers": {"x-phoenix-longpoll-token,content-type"}})
		if resp.StatusCode != 200 || len(b) != 0 {
			t.Errorf("OPTIONS: HTTP %d %q, want 200, empty", resp.StatusCode, b)
		}
		for k, v := range map[string]string{"Access-Control-Allow-Origin": "*",
			"Access-Control-Allow-Headers": "x-phoenix-longpoll-token,content-type",
			"Access-Control-Allow-Methods": "get, post, options", "Access-Control-Max-Age": "3600"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("OPTIONS header %s: %q, want %q", k, got, v)
			}
		}
		if resp, b := c.do(http.MethodPut, nil, nil); resp.StatusCode != 400 || len(b) != 0 {
			t.Errorf("PUT: HTTP %d %q, want 400, empty", resp.StatusCode, b)
		}
	})

	// One client's bad requests lose nothing of the others: while it sends
	// garbage, a LongPoll sender's new_msg broadcasts all reach a LongPoll
	// receiver and a WebSocket receiver, in order.
	t.Run("bad client isolation", func(t *testing.T) {
		t.Parallel()
		// on the shared server (15 s idle): the receivers are not polled
		// while the sender posts
		room := "room:" + uniq("lpi")
		sender := joinLP(t, shared, uniq("lpis"), room)
		recv := joinLP(t, shared, uniq("lpir"), room)
		ws := dialRaw(t, shared, "token=user:"+uniq("lpiw")+"&vsn=2.0.0")
		ws.join(room, "1")
		const n = 30

		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the bad client: its answers are checked elsewhere
			defer wg.Done()
			ndjson := http.Header{"Content-Type": {"application/x-ndjson"}}
			bodies := [][]byte{
				[]byte(v2(q("1"), q("1"), room, "phx_join", `{}`) + "\n%%%"), // bad base64 line
				[]byte(`["1"`),                         // invalid JSON line
				[]byte(strings.Repeat("AAAA\n", 120)),  // 120 lines of junk binary frames
				bytes.Repeat([]byte("x"), lpMaxBody+1), // oversized (once)
			}
			for i := 0; ; i++ {
				for j, body := range bodies {
					select {
					case <-stop:
						return
					default:
					}
					if j == len(bodies)-1 && i > 0 {
						continue
					}
					bad := &lpConn{srv: shared, query: "token=user:" + uniq("lpib") + "&vsn=2.0.0"}
					if _, b, err := bad.try(http.MethodGet, nil, nil); err == nil {
						var r lpBody
						_ = json.Unmarshal(b, &r)
						bad.token = r.Token
					}
					_, _, _ = bad.try(http.MethodPost, body, ndjson)
					forged := &lpConn{srv: shared, query: bad.query, token: flip(sender.token, len(sender.token)-1), header: true}
					_, _, _ = forged.try(http.MethodPost, []byte(v2(q("1"), q("1"), room, "new_msg", `{"body":"forged"}`)), ndjson)
					_, _, _ = forged.try(http.MethodGet, nil, nil)
				}
			}
		}()

		for i := 0; i < n; i += 5 {
			var lines []string
			for j := i; j < i+5; j++ {
				lines = append(lines, v2(q("1"), q(fmt.Sprintf("m%d", j)), room, "new_msg", fmt.Sprintf(`{"body":"m%d"}`, j)))
			}
			sender.mustPost(lines...)
		}
		bodies := func(ms []lpMsg) []string {
			var out []string
			for _, m := range ms {
				if m.Event == "new_msg" {
					var p struct{ Body string }
					_ = json.Unmarshal(m.Payload, &p)
					out = append(out, p.Body)
				}
			}
			return out
		}
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("m%d", i)
		}
		got := bodies(recv.collect(func(ms []lpMsg) bool { return len(bodies(ms)) >= n }))
		sent := sender.collect(func(ms []lpMsg) bool { return len(bodies(ms)) >= n && hasReply(fmt.Sprintf("m%d", n-1))(ms) })
		close(stop)
		wg.Wait()
		if !slices.Equal(got, want) {
			t.Errorf("LongPoll receiver got %v, want %v", got, want)
		}
		if b := bodies(sent); !slices.Equal(b, want) {
			t.Errorf("LongPoll sender got its own broadcasts %v, want %v", b, want)
		}
		for i := range n {
			if r := replyTo(sent, fmt.Sprintf("m%d", i)); r == nil || !jsonEqual(r.Payload, []byte(reply("ok", `{}`))) {
				t.Errorf("sender's new_msg m%d: reply %v", i, r)
			}
		}
		var wsGot []string
		for len(wsGot) < n {
			f, err := ws.next(10 * time.Second)
			if err != nil {
				t.Fatalf("WebSocket receiver: %v after %v", err, wsGot)
			}
			var m []json.RawMessage
			if json.Unmarshal(f.Data, &m) == nil && len(m) == 5 && string(m[3]) == `"new_msg"` {
				var p struct{ Body string }
				_ = json.Unmarshal(m[4], &p)
				wsGot = append(wsGot, p.Body)
			}
		}
		if !slices.Equal(wsGot, want) {
			t.Errorf("WebSocket receiver got %v, want %v", wsGot, want)
		}
	})
}
