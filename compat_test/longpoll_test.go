package compat_test

// phoenix.js over its LongPoll transport: accepted and rejected connects
// (the example app's token param) and the session limit. phoenix.js 1.8
// uses fetch in Node; 1.7 needs XMLHttpRequest, which js/xhr.js provides
// over fetch.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
)

// checkLongPollAccepted runs the accepted LongPoll scenario for user id
// against srv and checks it: the socket opens, the join, an echo and a
// new_msg are answered ok, the broadcast arrives, a heartbeat is answered.
// It returns the socket's events.
func checkLongPollAccepted(t *testing.T, srv *phxd, lib jsLib, id string) []jsEvent {
	t.Helper()
	res := runJS[struct {
		Opened     bool              `json:"opened"`
		Join       jsReply           `json:"join"`
		Echo       jsReply           `json:"echo"`
		NewMsg     jsReply           `json:"new_msg"`
		Broadcasts []json.RawMessage `json:"broadcasts"`
		Ping       bool              `json:"ping"`
		Events     []jsEvent         `json:"events"`
	}](t, srv, lib, "lp_accepted", userRoom(id))
	if !res.Opened {
		t.Fatalf("LongPoll socket (tls %v) did not open: %s", srv.tls, describe(res.Events))
	}
	assertReply(t, "join", res.Join, "ok", `{}`)
	assertReply(t, "echo", res.Echo, "ok", `{"via":"longpoll","u":"ü ✓"}`)
	assertReply(t, "new_msg", res.NewMsg, "ok", `{}`)
	assertSameJSONSet(t, "new_msg broadcasts", res.Broadcasts, []string{`{"user":"` + id + `","body":"over longpoll"}`})
	if !res.Ping {
		t.Errorf("heartbeat over LongPoll (tls %v) got no reply", srv.tls)
	}
	return res.Events
}

func TestJSLongPoll(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		events := checkLongPollAccepted(t, shared, lib, uniq("lp"+libTag(lib)))
		if n := count(events, "close") + count(events, "error"); n != 0 {
			t.Errorf("LongPoll socket closed or errored: %s", describe(events))
		}
	})
}

// A rejected LongPoll connect: the client never opens, its onMessage sees
// the phx_connect_error message, then onError(403) and onClose 1008
// "forbidden" (phoenix.js's own code for a 403 poll).
func TestJSLongPollRejected(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-reject-brake", "-1s")
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachLib(t, func(t *testing.T, lib jsLib) {
				args := map[string]any{"cooperative": false, "observeMs": 300, "topic": "room:lobby", "longpoll": true}
				if tc.token != nil {
					args["token"] = *tc.token
				}
				res := runJS[rejectedResult](t, srv, lib, "rejected", args)
				evs := socketLevel(untilMark(res.Events, "stop"))
				if len(evs) < 3 || evs[0].Type != "message" || evs[1].Type != "error" || evs[2].Type != "close" {
					t.Fatalf("want [message phx_connect_error, error 403, close 1008], got %s", describe(evs))
				}
				checkConnectErrorMessage(t, evs[0], tc.payload)
				if evs[1].Message != "403" {
					t.Errorf("onError: got %s, want 403", evs[1])
				}
				if c := evs[2]; c.Code != 1008 || c.Reason != "forbidden" {
					t.Errorf("close: got %s, want 1008 \"forbidden\"", c)
				}
				if n := count(evs, "open"); n != 0 {
					t.Errorf("a rejected LongPoll client must never open: %s", describe(evs))
				}
				if res.JoinReply != nil {
					t.Errorf("the buffered join got a reply %+v", *res.JoinReply)
				}
			})
		})
	}
}

// LongPoll sessions count toward -max-conns, with WebSockets (issue 10,
// hole 8: 342k sessions in 20 s). A flood of session-creating GETs gets at
// most the limit, then HTTP 503 with Retry-After (on the kept-alive
// connection; at the limit the event loop refuses new connections at
// accept); a WebSocket is refused too; and the sessions give their places
// back when they expire.
func TestLongPollSessionLimit(t *testing.T) {
	t.Parallel()
	const maxConns = 24
	srv := startServer(t, "-max-conns", fmt.Sprint(maxConns), "-longpoll-window", "1s", "-longpoll-idle", "3s", "-reject-brake", "-1s")
	// flood creates sessions until the first refusal (an HTTP answer other
	// than 200, or a connection refused) or max of them.
	flood := func(max int) (created int, refused *http.Response, body []byte, err error) {
		t.Helper()
		for created < max {
			c := newLPConn(t, srv, uniq("lpcap"))
			resp, b, err := c.try(http.MethodGet, nil, nil)
			if err != nil || resp.StatusCode != 200 {
				return created, resp, b, err
			}
			var r lpBody
			if json.Unmarshal(b, &r) != nil || r.Status != 410 || r.Token == "" {
				t.Fatalf("session GET #%d: %s", created+1, b)
			}
			created++
		}
		return created, nil, nil, nil
	}
	created, resp, body, err := flood(4 * maxConns)
	t.Logf("%d sessions before the first refusal (-max-conns %d)", created, maxConns)
	// the test's own HTTP connection may count toward the limit too
	if created > maxConns || created < maxConns-4 {
		t.Fatalf("%d sessions under -max-conns %d, want the limit (less the test's own connections)", created, maxConns)
	}
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || len(body) != 0 {
		t.Fatalf("refused session: %v %v %q, want HTTP 503, Retry-After, no body", err, resp, body)
	}
	if c, err := dialRawErr(t, srv, "token=user:"+uniq("lpcapws")+"&vsn=2.0.0"); err == nil {
		c.close()
		t.Errorf("a WebSocket was accepted with -max-conns taken by LongPoll sessions")
	}
	// The flood's sessions expire (-longpoll-idle 3s) and give their places
	// back: as many sessions fit again, and no more (a place given back
	// twice would let more in).
	again := 0
	for deadline := time.Now().Add(30 * time.Second); again < created; {
		n, _, _, _ := flood(created - again)
		again += n
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sessions available again 30 s after the flood", again, created)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n, resp, b, err := flood(1); n != 0 || (err == nil && resp.StatusCode != http.StatusServiceUnavailable) {
		t.Fatalf("one session more than the first flood: %d created (%v %q)", n, err, b)
	}
}

// LongPoll sessions count toward -max-conns-per-ip with their address's
// connections: a client looping on session-creating GETs over its one
// kept-alive connection gets the cap less that connection, then HTTP 503
// with Retry-After, while a client from another address still gets a
// session.
func TestLongPollSessionsPerAddress(t *testing.T) {
	t.Parallel()
	const capIP = 6
	srv := startServer(t, "-max-conns-per-ip", fmt.Sprint(capIP), "-longpoll-idle", "60s", "-reject-brake", "-1s")
	// from returns an HTTP client that makes one connection from ip.
	from := func(ip string) *http.Client {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
		tr := &http.Transport{MaxConnsPerHost: 1, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 30 * time.Second}
	}
	open := func(c *http.Client) (*http.Response, []byte) {
		t.Helper()
		resp, err := c.Get("http://" + srv.addr + "/socket/longpoll?vsn=2.0.0&token=user:" + uniq("lpip"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	a := from("127.0.0.1")
	created := 0
	for ; created < 4*capIP; created++ {
		resp, b := open(a)
		if resp.StatusCode == http.StatusServiceUnavailable {
			if resp.Header.Get("Retry-After") == "" || len(b) != 0 {
				t.Fatalf("refused session: Retry-After %q, body %q; want a Retry-After and no body", resp.Header.Get("Retry-After"), b)
			}
			break
		}
		var r lpBody
		if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil || r.Status != 410 || r.Token == "" {
			t.Fatalf("session GET #%d: HTTP %d %s", created+1, resp.StatusCode, b)
		}
	}
	if created != capIP-1 {
		t.Fatalf("127.0.0.1 got %d sessions over its one connection with -max-conns-per-ip %d, want %d", created, capIP, capIP-1)
	}
	if resp, b := open(from("127.0.0.2")); resp.StatusCode != 200 {
		t.Fatalf("a client from 127.0.0.2 while 127.0.0.1 is at its cap: HTTP %d %s, want a session", resp.StatusCode, b)
	}
}

// phoenix.js against a full server (both versions): the 503 a
// session-creating GET gets at the limit is not JSON, which phoenix.js
// takes as a server error: onError(500), close 1011, reconnect with its
// growing backoff, never opening. The server is phx mounted as a plain
// http.Handler (no event loop), bounded by LongPollConfig.MaxSessions.
func TestJSLongPollSessionLimit(t *testing.T) {
	t.Parallel()
	lp := phx.NewServer(phx.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		LongPoll: phx.LongPollConfig{MaxSessions: 1, Idle: time.Minute}})
	hs := httptest.NewServer(lp)
	t.Cleanup(func() {
		hs.Close()
		_ = lp.Close()
	})
	srv := &phxd{addr: hs.Listener.Addr().String()}
	holder := &lpConn{t: t, srv: srv, query: "vsn=2.0.0"}
	holder.open() // the one session
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res := runLPJS[struct {
			Events []jsEvent `json:"events"`
		}](t, srv, lib, "lp_full", map[string]any{"user": uniq("lpfull" + libTag(lib)), "observeMs": 1500})
		evs := socketLevel(untilMark(res.Events, "stop"))
		closes := 0
		for _, e := range evs {
			switch {
			case e.Type == "open":
				t.Fatalf("the client opened a session over the limit: %s", describe(evs))
			case e.Type == "error" && e.Message != "500":
				t.Errorf("onError %s, want 500 (an unparsable answer): %s", e.Message, describe(evs))
			case e.Type == "close" && e.Code == 1011:
				closes++
			case e.Type == "close" && e.Code == 0 && lib.Version < "1.8":
				// 1.7's reconnect closes the closed transport once more
			case e.Type == "close":
				t.Errorf("close %s, want 1011: %s", e, describe(evs))
			}
		}
		// phoenix.js backs off (10, 50, 100, 150, 200, 250, 500 ms …): a
		// hot loop would make hundreds of attempts
		if closes == 0 || closes > 15 {
			t.Errorf("%d refused attempts in 1.5 s, want a few (backoff): %s", closes, describe(evs))
		}
		t.Logf("%d refused attempts in 1.5 s", closes)
	})
	if n := lp.LongPollSessions(); n != 1 {
		t.Errorf("%d sessions on a server capped at 1", n)
	}
}
