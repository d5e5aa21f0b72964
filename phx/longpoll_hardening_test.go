package phx

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A panic in the app's Connect (recovered further up, by net/http or the
// event loop's worker) gives back the session place and the connection
// slot that were taken before Connect ran.
func TestLongPollConnectPanicReleases(t *testing.T) {
	const maxConns = 4
	srv := newServerForTest(t, Config{Net: NetConfig{MaxConns: maxConns},
		LongPoll: LongPollConfig{MaxSessions: maxConns},
		Connect: func(ctx context.Context, info *ConnectInfo) (Assigns, error) {
			if info.Params.Get("token") == "panic" {
				panic("app bug")
			}
			return testConnect(ctx, info)
		}})
	srv.Channel("room:*", &testChannel{})
	np, err := srv.netpoll()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxConns {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("GET %d: Connect's panic did not propagate", i)
				}
			}()
			req := httptest.NewRequest(http.MethodGet, "/socket/longpoll?token=panic&vsn=2.0.0", nil)
			srv.ServeHTTP(httptest.NewRecorder(), req)
		}()
	}
	if n := srv.lp.places.Load(); n != 0 {
		t.Fatalf("%d session places held after %d panicking Connects, want 0", n, 3*maxConns)
	}
	if n := np.Stats().Slots; n != 0 {
		t.Fatalf("%d connection slots held after %d panicking Connects, want 0", n, 3*maxConns)
	}
	// every place is usable
	if tokens := lpFlood(t, srv, maxConns, 1); len(tokens) != maxConns {
		t.Fatalf("%d sessions after the panics, want %d", len(tokens), maxConns)
	}
}

// The WARN lines a LongPoll client can trigger at will (refused origin or
// vsn, bad POST bodies and messages, oversized POSTs) go through the
// server's rate-limited logger: a flood of each writes at most
// LogWarnsPerSecond lines a second, with long values cut.
func TestLongPollClientWarningsRateLimited(t *testing.T) {
	const perSecond, flood, valueMax = 3, 40, 64
	rec := newLineRecorder()
	srv, _ := lpCountingServer(t, Config{Logger: rec.logger(), LogWarnsPerSecond: perSecond,
		LogValueBytes: valueMax, LongPoll: LongPollConfig{MaxBody: 4 << 10}})
	long := strings.Repeat("x", 16<<10)
	do := func(method, target, body string, header map[string]string) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	for range flood {
		do(http.MethodGet, "/socket/longpoll?token=good&vsn=2.0.0", "", map[string]string{"Origin": "http://" + long + ".example"})
		do(http.MethodGet, "/socket/longpoll?token=good&vsn="+long, "", nil)
		// a session per bad POST: each one closes its session
		for _, body := range []string{`["1","1","` + long[:2<<10] + `"]`, "{" + long[:2<<10], long} {
			c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
			c.open()
			c.do(http.MethodPost, body, "application/x-ndjson", nil)
		}
	}
	for _, msg := range []string{"longpoll refused: origin not allowed", "longpoll refused: unsupported vsn",
		"longpoll: bad POST body: closing session", "longpoll: bad message: closing session",
		"longpoll: POST body over the limit: closing session"} {
		lines := rec.matching("msg=" + textValue(msg))
		// a flood of 40 spread over two windows at the most on a slow run
		if len(lines) == 0 || len(lines) > 2*perSecond {
			t.Errorf("%q: %d lines for a flood of %d, want 1..%d", msg, len(lines), flood, 2*perSecond)
		}
		for _, l := range lines {
			if len(l) > 1024 {
				t.Errorf("%q: a line of %d bytes, values must be cut to %d: %.200s", msg, len(l), valueMax, l)
			}
		}
	}
}

// lpOpenFrom sends a session-creating GET from remote and returns the
// HTTP status and, for a session, its token.
func lpOpenFrom(t *testing.T, srv *Server, remote string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/socket/longpoll?token=good&vsn=2.0.0", nil)
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		return rec.Code, ""
	}
	var r lpResp
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Status != 410 || r.Token == "" {
		t.Fatalf("session GET from %s: %s", remote, rec.Body.String())
	}
	return 200, r.Token
}

// LongPoll sessions cost their client no file descriptor: with
// Config.Net.MaxConnsPerIP set, one address looping on session-creating
// GETs gets that many sessions, then 503 (before Connect runs), while
// another address still gets one; a session's end gives its address's
// place back.
func TestLongPollSessionsPerAddressCap(t *testing.T) {
	const capIP = 5
	srv, calls := lpCountingServer(t, Config{Net: NetConfig{MaxConnsPerIP: capIP},
		LongPoll: LongPollConfig{Window: 20 * time.Millisecond, Idle: time.Minute}})
	np, err := srv.netpoll()
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for i := range 4 * capIP {
		code, tok := lpOpenFrom(t, srv, fmt.Sprintf("192.0.2.7:%d", 1000+i))
		switch {
		case code == 200 && len(tokens) < capIP:
			tokens = append(tokens, tok)
		case code == http.StatusServiceUnavailable && len(tokens) == capIP:
		default:
			t.Fatalf("GET %d from 192.0.2.7 with %d sessions: HTTP %d, want %d sessions then 503", i, len(tokens), code, capIP)
		}
	}
	if n := calls.Load(); n != capIP {
		t.Errorf("Connect ran %d times, want %d: refused GETs must not reach it", n, capIP)
	}
	if st := np.Stats(); st.RefusedPerIP != 3*capIP || st.Slots != capIP {
		t.Errorf("event loop stats: RefusedPerIP %d, Slots %d; want %d, %d", st.RefusedPerIP, st.Slots, 3*capIP, capIP)
	}
	// another address, and another IPv6 /64, are not affected
	for _, remote := range []string{"192.0.2.8:1000", "[2001:db8:0:1::1]:1000"} {
		if code, _ := lpOpenFrom(t, srv, remote); code != 200 {
			t.Fatalf("GET from %s while 192.0.2.7 is at its cap: HTTP %d, want a session", remote, code)
		}
	}
	// one session of the capped address ends (kicked, its client told):
	// its place comes back, for that address only
	id, _ := srv.lp.tokens.sessionID(tokens[0])
	srv.lp.get(id).close(CloseGoingAway, "")
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0", token: tokens[0]}
	if r := c.get(); r.Status != 403 {
		t.Fatalf("poll of the kicked session: %+v, want 403", r)
	}
	if code, _ := lpOpenFrom(t, srv, "192.0.2.7:2000"); code != 200 {
		t.Fatalf("GET from 192.0.2.7 after one of its sessions ended: HTTP %d, want a session", code)
	}
	if code, _ := lpOpenFrom(t, srv, "192.0.2.7:2001"); code != http.StatusServiceUnavailable {
		t.Fatalf("GET from 192.0.2.7 at its cap again: HTTP %d, want 503", code)
	}
	srv.lp.shutdown()
	if n := np.Stats().Slots; n != 0 {
		t.Fatalf("%d connection slots held after every session ended", n)
	}
}
