package phx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/netpoll"
)

// A panic in the app's Connect (recovered further up, by net/http or the
// event loop's worker) gives back the session place and the connection
// slot that were taken before Connect ran.
func TestLongPollConnectPanicReleases(t *testing.T) {
	const maxConns = 4
	srv := newServerForTest(t, Config{Net: netpoll.Config{MaxConns: maxConns},
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
