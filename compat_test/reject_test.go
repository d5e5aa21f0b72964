package compat_test

// Rejected connects, the reconnect brake and the join deadline, seen by
// phoenix.js and on the wire. Each phoenix.js test that counts upgrade
// attempts gets its own phxd: the brake remembers (remote IP, token) and all
// test clients share 127.0.0.1.

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// rejectCase is one row of the contract's connect table.
type rejectCase struct {
	name    string
	token   *string // nil: no token param at all
	code    int
	reason  string
	payload string
}

func strp(s string) *string { return &s }

var rejectCases = []rejectCase{
	{"bad", strp("bad"), 4401, "unauthorized", `{"reason":"unauthorized"}`},
	{"missing", nil, 4401, "unauthorized", `{"reason":"unauthorized"}`},
	{"expired", strp("expired"), 4401, "token_expired", `{"reason":"token_expired"}`},
	{"overloaded", strp("overloaded"), 4503, "try_later", `{"reason":"try_later","retry_after_ms":5000}`},
}

// rejectedResult is the "rejected" scenario's result.
type rejectedResult struct {
	Closed    bool      `json:"closed"`
	Events    []jsEvent `json:"events"`
	JoinReply *jsReply  `json:"join_reply"`
}

// runRejected runs the "rejected" scenario: a client with token (nil: no
// token param) and a buffered join, observed for observeMs after its first
// close. cooperative: the app disconnects in onClose on 4400–4499 except 4429.
// The events stop at the scenario's own final disconnect.
func runRejected(t *testing.T, srv *phxd, lib jsLib, token *string, cooperative bool, observeMs int) rejectedResult {
	t.Helper()
	args := map[string]any{"cooperative": cooperative, "observeMs": observeMs, "topic": "room:lobby"}
	if token != nil {
		args["token"] = *token
	}
	res := runJS[rejectedResult](t, srv, lib, "rejected", args)
	res.Events = untilMark(res.Events, "stop")
	return res
}

// checkConnectErrorOpen checks the first three socket events of a frame-mode
// rejection (cmd/phxd/README.md): open, the phx_connect_error message, and a
// clean close with the code and reason. It returns the events after those.
func checkConnectErrorOpen(t *testing.T, evs []jsEvent, code int, reason, payload string) []jsEvent {
	t.Helper()
	sock := socketLevel(evs)
	if len(sock) < 3 || sock[0].Type != "open" || sock[1].Type != "message" || sock[2].Type != "close" {
		t.Fatalf("want [open, message phx_connect_error, close %d], got %s", code, describe(sock))
	}
	checkConnectErrorMessage(t, sock[1], payload)
	if c := sock[2]; c.Code != code || c.Reason != reason || !c.WasClean {
		t.Errorf("close: got %s, want close(%d %q clean=true)", c, code, reason)
	}
	return sock[3:]
}

// checkConnectErrorMessage checks a socket "message" event: the
// phx_connect_error message [null,null,"phoenix","phx_connect_error",payload].
func checkConnectErrorMessage(t *testing.T, ev jsEvent, payload string) {
	t.Helper()
	m := ev.Msg
	if m.Topic != "phoenix" || m.Event != "phx_connect_error" || string(m.JoinRef) != "null" ||
		string(m.Ref) != "null" || !jsonEqual(m.Payload, []byte(payload)) {
		t.Errorf("connect error message: got %s\n\twant message[null,null,phoenix,phx_connect_error,%s]", ev, payload)
	}
}

// A rejected connect with the example's recommended client pattern
// (disconnect in onClose on 4400–4499 except 4429): onOpen, the
// phx_connect_error message, onClose with the code, no onError, and exactly
// one upgrade. 4503 is outside that range: phoenix.js retries, and the brake
// refuses the retries before the upgrade.
func TestJSRejectedConnect(t *testing.T) {
	t.Parallel()
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachLib(t, func(t *testing.T, lib jsLib) {
				srv := startServer(t)
				res := runRejected(t, srv, lib, tc.token, true, 500)
				if !res.Closed {
					t.Fatalf("socket never closed: %s", describe(res.Events))
				}
				rest := checkConnectErrorOpen(t, res.Events, tc.code, tc.reason, tc.payload)
				if res.JoinReply != nil {
					t.Errorf("the buffered phx_join got a reply %+v; a rejected socket's frames must be ignored", *res.JoinReply)
				}
				rejections := srv.settledRejections(300*time.Millisecond, 3*time.Second)
				if len(rejections) == 0 || rejections[0].Mode != "frame" || rejections[0].Code != tc.code || rejections[0].Reason != tc.reason {
					t.Fatalf("server log: want a first rejection mode=frame code=%d reason=%s, got %+v", tc.code, tc.reason, rejections)
				}
				if tc.code >= 4400 && tc.code < 4500 {
					// The app stopped the client: nothing after the close.
					if len(rest) != 0 {
						t.Errorf("events after the close (the app called disconnect): %s", describe(rest))
					}
					if len(rejections) != 1 {
						t.Errorf("server logged %d rejected connects %v, want exactly 1 upgrade", len(rejections), modes(rejections))
					}
					return
				}
				// 4503: retries are refused before the upgrade (brake, HTTP 429):
				// the client sees error + close 1006, never another open.
				for _, e := range rest {
					if e.Type == "open" || e.Type == "message" || (e.Type == "close" && e.Code != 1006) {
						t.Errorf("after the 4503 close: unexpected %s (retries must be refused by the brake): %s", e, describe(rest))
						break
					}
				}
				for i, r := range rejections[1:] {
					if r.Mode != "brake" {
						t.Errorf("server log: rejection %d has mode %q, want brake (all: %v)", i+2, r.Mode, modes(rejections))
						break
					}
				}
			})
		})
	}
}

// An unmodified client (nothing in onClose) with a bad token for ~3 s: one
// frame-mode rejection, then only brake refusals before the upgrade, and a
// small number of attempts (phoenix.js backs off after failed upgrades).
func TestJSRejectBrake(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		srv := startServer(t, "-reject-brake", "10s")
		res := runRejected(t, srv, lib, strp("bad"), false, 3000)
		rest := checkConnectErrorOpen(t, res.Events, 4401, "unauthorized", `{"reason":"unauthorized"}`)
		for _, e := range rest {
			if e.Type == "open" || e.Type == "message" || (e.Type == "close" && (e.Code != 1006 || e.WasClean)) {
				t.Errorf("after the first rejection: unexpected %s; retries must fail before the upgrade: %s", e, describe(rest))
				break
			}
		}
		if count(rest, "close") == 0 {
			t.Errorf("phoenix.js did not retry at all after the 4401 close: %s", describe(res.Events))
		}

		rejections := srv.settledRejections(300*time.Millisecond, 3*time.Second)
		if len(rejections) < 2 || rejections[0].Mode != "frame" {
			t.Fatalf("server log: want one frame rejection then brake refusals, got %v", modes(rejections))
		}
		for i, r := range rejections[1:] {
			if r.Mode != "brake" {
				t.Errorf("server log: rejection %d has mode %q, want brake (all: %v)", i+2, r.Mode, modes(rejections))
				break
			}
		}
		// phoenix.js backoff after failed upgrades: 10, 50, 100, 150, 200, 250,
		// 500, 1000, 2000 ms… ≈ 10 attempts in 3 s. A count, not a timing.
		if len(rejections) > 20 {
			t.Errorf("server saw %d attempts in ~3 s, want ≤ 20 (the brake must stop the hot loop): %v", len(rejections), modes(rejections))
		}
		t.Logf("attempts seen by the server in ~3 s: %d %v", len(rejections), modes(rejections))

		// The refusal itself, by hand: HTTP 429, Retry-After, JSON payload.
		resp, body := rawHTTPUpgrade(t, srv, "token=bad&vsn=2.0.0")
		if resp.StatusCode == http.StatusSwitchingProtocols {
			// Only on a very slow run: the 10 s window had passed, this was a
			// new frame-mode rejection; the next attempt is braked.
			t.Logf("raw upgrade got 101: the brake window had passed; retrying once")
			resp, body = rawHTTPUpgrade(t, srv, "token=bad&vsn=2.0.0")
		}
		checkBrakeResponse(t, resp, body, `{"reason":"unauthorized"}`)

		// The brake is per (IP, token): another token still gets the upgrade
		// and the frame-mode rejection.
		resp, _ = rawHTTPUpgrade(t, srv, "token=another_bad_token&vsn=2.0.0")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("other token: HTTP %d, want 101 (the brake must key on the token)", resp.StatusCode)
		}
	})
}

func checkBrakeResponse(t *testing.T, resp *http.Response, body []byte, payload string) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("braked upgrade: HTTP %d, want 429 (body %q)", resp.StatusCode, body)
		return
	}
	ra := resp.Header.Get("Retry-After")
	if secs, err := strconv.Atoi(ra); err != nil || secs < 1 {
		t.Errorf("braked upgrade: Retry-After %q, want a positive number of seconds", ra)
	}
	if !jsonEqual(body, []byte(payload)) {
		t.Errorf("braked upgrade: body %q, want the JSON payload %s", body, payload)
	}
}

// -reject-brake -1s: no brake, every attempt is upgraded and rejected with the
// frame (phoenix.js then retries after ~10 ms each time).
func TestJSRejectNoBrake(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		srv := startServer(t, "-reject-brake", "-1s")
		res := runRejected(t, srv, lib, strp("bad"), false, 1000)
		checkConnectErrorOpen(t, res.Events, 4401, "unauthorized", `{"reason":"unauthorized"}`)
		if n := count(res.Events, "open"); n < 2 {
			t.Errorf("without the brake the client should reconnect and open again; opens: %d", n)
		}
		for _, e := range socketLevel(res.Events) {
			if e.Type == "close" && e.Code != 4401 {
				t.Errorf("without the brake every close should be 4401, got %s: %s", e, describe(res.Events))
				break
			}
		}
		rejections := srv.settledRejections(300*time.Millisecond, 3*time.Second)
		for _, r := range rejections {
			if r.Mode != "frame" {
				t.Fatalf("server log: mode %q with -reject-brake -1s, want only frame: %v", r.Mode, modes(rejections))
			}
		}
		if len(rejections) < 2 {
			t.Errorf("server log: %d rejections, want several", len(rejections))
		}
		t.Logf("attempts without the brake in ~1 s: %d", len(rejections))
		resp, body := rawHTTPUpgrade(t, srv, "token=bad&vsn=2.0.0")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("-reject-brake -1s: HTTP %d %q, want 101", resp.StatusCode, body)
		}
	})
}

// -reject-mode http: Phoenix's behaviour, the upgrade is refused; the browser
// API (and ws) show only an error and close 1006.
func TestJSRejectHTTPMode(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		srv := startServer(t, "-reject-mode", "http")
		res := runRejected(t, srv, lib, strp("bad"), true, 500)
		sock := socketLevel(res.Events)
		if len(sock) < 2 || sock[0].Type != "error" || sock[1].Type != "close" {
			t.Fatalf("want [error, close 1006, …], got %s", describe(sock))
		}
		if c := sock[1]; c.Code != 1006 || c.WasClean {
			t.Errorf("close: got %s, want 1006, not clean", c)
		}
		if n := count(sock, "open") + count(sock, "message"); n != 0 {
			t.Errorf("http mode: the client must never open or get a message: %s", describe(sock))
		}
		rejections := srv.settledRejections(300*time.Millisecond, 3*time.Second)
		if len(rejections) == 0 || rejections[0].Mode != "http" {
			t.Fatalf("server log: want mode=http rejections, got %+v", rejections)
		}
		for _, r := range rejections {
			if r.Mode == "frame" {
				t.Errorf("server log: a frame-mode rejection with -reject-mode http: %v", modes(rejections))
				break
			}
		}
		// A fresh token (not braked): Phoenix answers 403 to the upgrade.
		resp, body := rawHTTPUpgrade(t, srv, "token=fresh_bad_token&vsn=2.0.0")
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("-reject-mode http: HTTP %d %q, want 403 as Phoenix", resp.StatusCode, body)
		}
	})
}

// joinDeadlineResult is what the join_deadline scenario and its LongPoll
// variant lp_join_deadline have in common: one client joins ("active"), the
// other joins nothing ("idle").
type joinDeadlineResult struct {
	Join         jsReply   `json:"join"`
	ActiveEcho   jsReply   `json:"active_echo"`
	IdleEvents   []jsEvent `json:"idle_events"`
	ActiveEvents []jsEvent `json:"active_events"`
}

// checkJoinDeadlineActive: the client that joined is not closed by the join
// deadline and still gets replies after it.
func checkJoinDeadlineActive(t *testing.T, res joinDeadlineResult, transport string) {
	t.Helper()
	assertReply(t, "join", res.Join, "ok", `{}`)
	if n := count(res.ActiveEvents, "close"); n != 0 {
		t.Errorf("the %s client that joined was closed: %s", transport, describe(res.ActiveEvents))
	}
	assertReply(t, "echo on the joined "+transport+" client after the deadline", res.ActiveEcho, "ok", `{"still":"open"}`)
}

// -join-deadline 1s: a socket that joins nothing gets phx_connect_error
// {"reason":"join_timeout"} and close 4408; a socket that joined stays open.
func TestJSJoinDeadline(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-join-deadline", "1s")
	forEachLib(t, func(t *testing.T, lib jsLib) {
		id := uniq("jd" + libTag(lib))
		res := runJS[struct {
			joinDeadlineResult
			IdleClosed bool `json:"idle_closed"`
		}](t, srv, lib, "join_deadline", map[string]any{"user": id, "room": "room:" + id, "observeMs": 2500})
		checkJoinDeadlineActive(t, res.joinDeadlineResult, "WebSocket")
		if !res.IdleClosed {
			t.Errorf("the socket that joined nothing was not closed (waited 10 s): %s", describe(res.IdleEvents))
		} else {
			rest := checkConnectErrorOpen(t, res.IdleEvents, 4408, "join_timeout", `{"reason":"join_timeout"}`)
			if len(rest) != 0 {
				t.Errorf("idle socket: events after the close: %s", describe(rest))
			}
		}
	})
}

// The rejected connect on the wire (cmd/phxd/README.md): the upgrade
// succeeds (answering the "phoenix" subprotocol), one phx_connect_error text
// frame in the negotiated serializer, a close frame with code and reason,
// frames sent by the client are ignored, and the TCP connection ends after
// the client's close reply.
func TestWireRejectedConnect(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-reject-brake", "-1s")
	for _, tc := range rejectCases {
		for _, vsn := range []string{"2.0.0", "1.0.0"} {
			t.Run(tc.name+"/vsn="+vsn, func(t *testing.T) {
				t.Parallel()
				query := "vsn=" + vsn
				if tc.token != nil {
					query = "token=" + *tc.token + "&" + query
				}
				c := dialRaw(t, srv, query, "phoenix")
				if c.protocol != "phoenix" {
					t.Errorf("Sec-WebSocket-Protocol answer %q, want phoenix", c.protocol)
				}
				join := v2(q("1"), q("1"), "room:lobby", "phx_join", `{}`)
				if vsn == "1.0.0" {
					join = v1(q("1"), q("1"), "room:lobby", "phx_join", `{}`)
				}
				_ = c.write(ws.OpText, []byte(join)) // must be ignored
				closeFrame, before := c.expectClose(frameWait)
				want := v2("null", "null", "phoenix", "phx_connect_error", tc.payload)
				if vsn == "1.0.0" {
					want = v1("", "null", "phoenix", "phx_connect_error", tc.payload)
				}
				if len(before) != 1 || before[0].Op != ws.OpText || !jsonEqual(before[0].Data, []byte(want)) {
					t.Errorf("frames before the close: got %v\n\twant [TXT %s]", before, want)
				}
				if int(closeFrame.Code) != tc.code || closeFrame.Reason != tc.reason {
					t.Errorf("close frame: got %s, want CLOSE %d %q", closeFrame, tc.code, tc.reason)
				}
				if f, err := c.next(frameWait); err != io.EOF {
					t.Errorf("after the close handshake: want the server to end the TCP connection, got %v %s", err, f)
				}
			})
		}
	}
}

// A peer that never answers the close frame: the server still ends the TCP
// connection (the contract: after the close reply or at most 2 s; the bound
// here is only generous).
func TestWireRejectedConnectNoCloseReply(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-reject-brake", "-1s")
	c, err := dialRawWith(t, srv, "token=bad&vsn=2.0.0", rawOptions{noCloseReply: true})
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := c.expectClose(frameWait); f.Code != 4401 {
		t.Errorf("close frame: got %s, want CLOSE 4401", f)
	}
	if f, err := c.next(frameWait); err != io.EOF {
		t.Errorf("without a close reply: want the server to end the TCP connection, got %v %s", err, f)
	}
}

// An unsupported vsn is refused before the upgrade with 403, as Phoenix
// (the server cannot know which frame format to speak).
func TestWireUnsupportedVsn(t *testing.T) {
	t.Parallel()
	for _, vsn := range []string{"3.0.0", "123.1.1", "2.1.0", "banana"} {
		t.Run(vsn, func(t *testing.T) {
			t.Parallel()
			resp, body := rawHTTPUpgrade(t, shared, "token=user:"+uniq("vsn")+"&vsn="+vsn)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("vsn=%s: HTTP %d %q, want 403", vsn, resp.StatusCode, body)
			}
		})
	}
}

// The brake answered by hand right after one rejection: 429 with
// Retry-After and the JSON payload, for each rejection payload.
func TestWireBrakeResponse(t *testing.T) {
	t.Parallel()
	srv := startServer(t) // default brake 10 s
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			query := "vsn=2.0.0"
			if tc.token != nil {
				query = "token=" + *tc.token + "&" + query
			}
			first, body := rawHTTPUpgrade(t, srv, query)
			if first.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("first attempt: HTTP %d %q, want 101 (frame-mode rejection)", first.StatusCode, body)
			}
			resp, body := rawHTTPUpgrade(t, srv, query)
			if tc.token == nil {
				// Nothing identifies a client without credentials, so it is
				// not braked by them (only by the per-address cap, 20
				// rejections per window): the other users behind its
				// address are not locked out by its refusal.
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("retry without credentials: HTTP %d %q, want 101 (not braked)", resp.StatusCode, body)
				}
				return
			}
			checkBrakeResponse(t, resp, body, tc.payload)
		})
	}
}
