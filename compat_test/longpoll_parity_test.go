package compat_test

// LongPoll parity (PROTOCOL.md §5, §8.5; EXAMPLE_APP.md):
//
//   - phoenix.js 1.8.16 and 1.7.23 over their own LongPoll transport run the
//     WebSocket suite's scenarios (js/scenarios.js, unchanged; the transport
//     is chosen per client by js/longpoll_parity.js), plus the scenarios
//     whose course differs on LongPoll: kick_me, binary, presence across
//     transports, the join deadline. The rejected connect is
//     TestJSLongPollRejected (longpoll_test.go).
//   - the /socket/longpoll endpoint driven with net/http: tokens in the
//     header and the query, malformed, oversized and over-long POSTs,
//     forged and expired tokens, CORS preflight, and one bad client next to
//     good ones.
//
// Neither phoenix.js release sends X-Phoenix-Longpoll-Token (1.9.0-dev
// does): both append ?token=. The header is checked with net/http only.

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

// runLPJS is runJS for js/longpoll_parity.js, which node loads before
// js/run.js (it registers its scenarios in run.js's table).
func runLPJS[T any](t *testing.T, srv *phxd, lib jsLib, scenario string, args any) T {
	t.Helper()
	return runJSWith[T](t, srv, lib, "./js/longpoll_parity.js", scenario, args)
}

func decodeAs[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// lpStep is one scenario of the lp_batch scenario; LongPoll names the
// clients that use LongPoll ("*": every client).
type lpStep struct {
	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	Args     any    `json:"args"`
	LongPoll any    `json:"longpoll"`
}

type lpCase struct {
	step  lpStep
	check func(t *testing.T, res json.RawMessage)
}

// The WebSocket suite's channel scenarios, over LongPoll, in one node
// process per phoenix.js version.
func TestJSLongPollParity(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		cases := lpParityCases(lib)
		steps := make([]lpStep, len(cases))
		for i, c := range cases {
			steps[i] = c.step
		}
		out := runLPJS[map[string]struct {
			Result json.RawMessage `json:"result"`
			Error  string          `json:"error"`
			Ms     int             `json:"ms"`
		}](t, shared, lib, "lp_batch", map[string]any{"steps": steps})
		for _, c := range cases {
			t.Run(c.step.Name, func(t *testing.T) {
				o, ok := out[c.step.Name]
				switch {
				case !ok:
					t.Fatalf("no result for step %s", c.step.Name)
				case o.Error != "":
					t.Fatalf("scenario %s threw: %s", c.step.Scenario, o.Error)
				}
				t.Logf("%s: %d ms", c.step.Scenario, o.Ms)
				c.check(t, o.Result)
			})
		}
	})
}

func lpParityCases(lib jsLib) []lpCase {
	tag := "l" + libTag(lib)
	id := func(p string) string { return uniq(p + tag) }
	v18 := lib.Version >= "1.8"
	echoPayloads := []string{
		`{}`,
		`{"a":{"b":{"c":[{"d":[true,false,null,1.5,-2,0.1,1e+21]}]}},"empty":{"o":{},"a":[]}}`,
		`{"text":"héllo wörld — ✓ 日本語","emoji":"🎉👩‍👩‍👧","rtl":"مرحبا"}`,
		`{"s":"quote\" backslash\\ slash/ nl\n tab\t nul\u0000 ls\u2028 ps\u2029","":"empty key"}`,
		`{"big":9007199254740991,"neg":-9007199254740991,"exp":1.5e-7}`,
	}
	connUser, joinUser, bench := id("c"), id("j"), "bench:"+id("b")
	nmA, nmB, nmRoom := id("na"), id("nb"), "room:"+id("nm")
	crashUser, leaveUser, slowUser, dupUser, kickUser := id("cr"), id("lv"), id("sl"), id("du"), id("k")
	binA, binB, binRoom := id("ba"), id("bb"), "room:"+id("bin")
	echoUser := id("e")
	all := "*"

	// The checks of the WebSocket suite (phoenixjs_test.go), plus, where
	// noted, what only LongPoll asserts.
	return []lpCase{
		{lpStep{"connect", "connect_ok", map[string]any{"user": connUser}, all}, func(t *testing.T, raw json.RawMessage) {
			checkConnect(t, decodeAs[connectResult](t, raw))
		}},
		{lpStep{"joins", "joins", map[string]any{"user": joinUser, "bench": bench}, all}, func(t *testing.T, raw json.RawMessage) {
			checkJoins(t, decodeAs[joinsResult](t, raw), joinUser, bench)
		}},
		{lpStep{"echo", "echo", map[string]any{"user": echoUser, "room": "room:" + echoUser, "payloads": rawJSON(echoPayloads)}, all},
			func(t *testing.T, raw json.RawMessage) {
				checkEcho(t, decodeAs[echoResult](t, raw), echoPayloads)
			}},
		{lpStep{"replies", "replies", userRoom(id("r")), all}, func(t *testing.T, raw json.RawMessage) {
			checkReplies(t, decodeAs[repliesResult](t, raw))
		}},
		// a on LongPoll, b on WebSocket: broadcasts cross both ways.
		{lpStep{"new_msg_lp_ws", "new_msg", map[string]any{"users": []string{nmA, nmB}, "room": nmRoom}, []string{"a"}},
			func(t *testing.T, raw json.RawMessage) {
				checkNewMsg(t, decodeAs[newMsgResult](t, raw), nmA, nmB, "a (LongPoll)", "b (WebSocket)")
			}},
		{lpStep{"crash", "crash", userRoom(crashUser), all}, func(t *testing.T, raw json.RawMessage) {
			res := decodeAs[crashResult](t, raw)
			checkCrash(t, res, "room:"+crashUser+"_a", "LongPoll")
			// LongPoll only: no socket onError either.
			if n := count(res.Events, "error"); n != 0 {
				t.Errorf("a channel crash errored the LongPoll socket %d times: %s", n, describe(res.Events))
			}
		}},
		{lpStep{"leave_me", "leave_me", userRoom(leaveUser), all}, func(t *testing.T, raw json.RawMessage) {
			checkLeaveMe(t, decodeAs[leaveMeResult](t, raw))
		}},
		{lpStep{"slow", "slow", userRoom(slowUser), all}, func(t *testing.T, raw json.RawMessage) {
			checkSlow(t, decodeAs[slowResult](t, raw))
		}},
		{lpStep{"dup_join", "dup_join", userRoom(dupUser), all}, func(t *testing.T, raw json.RawMessage) {
			checkDupJoin(t, decodeAs[dupJoinResult](t, raw))
		}},
		{lpStep{"kick_me", "lp_kick", userRoom(kickUser), nil}, func(t *testing.T, raw json.RawMessage) {
			res := decodeAs[struct {
				JoinA      jsReply   `json:"join_a"`
				JoinB      jsReply   `json:"join_b"`
				Kick       jsReply   `json:"kick"`
				AReopened  bool      `json:"a_reopened"`
				BReopened  bool      `json:"b_reopened"`
				ARejoined  bool      `json:"a_rejoined"`
				EchoAAfter jsReply   `json:"echo_a_after"`
				EchoBAfter jsReply   `json:"echo_b_after"`
				AEvents    []jsEvent `json:"a_events"`
				BEvents    []jsEvent `json:"b_events"`
			}](t, raw)
			assertReply(t, "join a (LongPoll)", res.JoinA, "ok", `{}`)
			assertReply(t, "join b (WebSocket, same user)", res.JoinB, "ok", `{}`)
			assertReply(t, "kick_me", res.Kick, "ok", `{}`)
			if res.Kick.Status != "ok" {
				t.Logf("LongPoll client a:%s", describe(res.AEvents))
			}
			// b: the WebSocket suite's check of a kicked WebSocket, and it must
			// have closed and reopened.
			if closed := checkKickedWebSocket(t, "b (WebSocket, same user)", res.BEvents); !closed || !res.BReopened {
				t.Errorf("WebSocket of the kicked user: want close 1001, reconnect, rejoin: %s", describe(res.BEvents))
			}
			assertReply(t, "echo on b after the kick", res.EchoBAfter, "ok", `{"after":"kick"}`)
			a := socketLevel(res.AEvents)
			for _, e := range a {
				if e.Type == "message" && e.Msg.Event == "phx_connect_error" {
					t.Errorf("the LongPoll client's reconnect was refused: %s (the new session must connect with the app's token param, not the lost session's token)", e)
				}
			}
			var life []string // open/error/close, in order
			for _, e := range a {
				if e.Type != "message" {
					life = append(life, e.String())
				}
			}
			if v18 {
				// ≥1.8.2: 410 while holding a token = session lost (PROTOCOL.md §5.3)
				want := []string{"open", "error(410)", `close(3410 "session_gone" clean=false)`, "open"}
				if !slices.Equal(life, want) || !res.ARejoined {
					t.Errorf("LongPoll client: got %q (rejoined %v), want %q then a rejoin: %s", life, res.ARejoined, want, describe(a))
				}
				assertReply(t, "echo on a after the kick", res.EchoAAfter, "ok", `{"after":"kick"}`)
			} else {
				// 1.7 adopts the new session silently and does not rejoin, as
				// against Phoenix (PROTOCOL.md §5.3: "and then hit unmatched
				// topic"): its channel stays dead. Recorded, not judged.
				if want := []string{"open", "open"}; !slices.Equal(life, want) {
					t.Errorf("1.7 LongPoll client: got %q, want %q: %s", life, want, describe(a))
				}
				t.Logf("1.7 after the kick: echo on the old channel: %s %s (no rejoin on a silently adopted session)",
					res.EchoAAfter.Status, res.EchoAAfter.Response)
			}
		}},
		// LongPoll carries no server→client binary (PROTOCOL.md §5.9).
		{lpStep{"binary", "lp_binary", map[string]any{"users": []string{binA, binB}, "room": binRoom}, nil}, func(t *testing.T, raw json.RawMessage) {
			res := decodeAs[struct {
				JoinA           jsReply           `json:"join_a"`
				JoinB           jsReply           `json:"join_b"`
				PushBinary      jsReply           `json:"push_binary"`
				Binary          jsReply           `json:"binary"`
				BroadcastBinary jsReply           `json:"broadcast_binary"`
				EchoAfter       jsReply           `json:"echo_after"`
				NewMsg          jsReply           `json:"new_msg"`
				AGotNewMsg      bool              `json:"a_got_new_msg"`
				Ping            bool              `json:"ping"`
				ABin            []json.RawMessage `json:"a_bin"`
				ABinAll         []json.RawMessage `json:"a_bin_all"`
				BBinAll         []json.RawMessage `json:"b_bin_all"`
				AEvents         []jsEvent         `json:"a_events"`
			}](t, raw)
			assertReply(t, "join a (LongPoll)", res.JoinA, "ok", `{}`)
			assertReply(t, "join b (WebSocket)", res.JoinB, "ok", `{}`)
			assertReply(t, "push_binary", res.PushBinary, "ok", `{}`)
			assertSameJSONSet(t, `"bin" pushes delivered over LongPoll`, res.ABin, nil)
			// the reply to a binary push is binary: it cannot be delivered
			assertReply(t, "binary 09 08 07 (binary reply)", res.Binary, "timeout", "")
			assertReply(t, "broadcast_binary", res.BroadcastBinary, "ok", `{}`)
			assertSameJSONSet(t, `"bin_all" delivered over LongPoll`, res.ABinAll, nil)
			assertSameJSONSet(t, `"bin_all" received by the WebSocket client`, res.BBinAll, []string{`{"$binary":"040506"}`})
			assertReply(t, "echo after the binary events", res.EchoAfter, "ok", `{"after":"binary"}`)
			assertReply(t, "new_msg after the binary events", res.NewMsg, "ok", `{}`)
			if !res.AGotNewMsg || !res.Ping {
				t.Errorf("LongPoll session after the binary events: new_msg broadcast %v, heartbeat reply %v", res.AGotNewMsg, res.Ping)
			}
			if n := count(res.AEvents, "close") + count(res.AEvents, "error"); n != 0 {
				t.Errorf("the LongPoll socket closed or errored: %s", describe(res.AEvents))
			}
			// A ref gets one reply (PROTOCOL.md §3.1).
			replies := map[string][]string{}
			for _, e := range res.AEvents {
				if e.Type == "message" && e.Msg.Event == "phx_reply" {
					replies[string(e.Msg.Ref)] = append(replies[string(e.Msg.Ref)], string(e.Msg.Payload))
				}
			}
			for ref, ps := range replies {
				if len(ps) > 1 {
					t.Errorf("ref %s got %d replies %v, want one", ref, len(ps), ps)
				}
			}
		}},
	}
}

// Presence across transports: a WebSocket client's phoenix.js Presence sees
// a LongPoll user join, change status, leave, rejoin, and leave again when
// its session expires after the client went away silently.
func TestJSLongPollPresence(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-longpoll-window", "1s", "-longpoll-idle", "2s")
	forEachLib(t, func(t *testing.T, lib jsLib) {
		tag := "lp" + libTag(lib)
		l, w := uniq("pl"+tag), uniq("pw"+tag)
		res := runLPJS[struct {
			JoinW      jsReply  `json:"join_w"`
			JoinL      jsReply  `json:"join_l"`
			Listed     bool     `json:"listed"`
			WList      []string `json:"w_list"`
			LList      []string `json:"l_list"`
			SetStatus  jsReply  `json:"set_status"`
			StatusSeen bool     `json:"status_seen"`
			Leave      string   `json:"leave"`
			Left       bool     `json:"left"`
			Rejoin     jsReply  `json:"rejoin"`
			Back       bool     `json:"back"`
			Expired    bool     `json:"expired"`
			ExpiryMs   int      `json:"expiry_ms"`
			WCallbacks []struct {
				Type string `json:"type"` // join, leave (of a whole key)
				Key  string `json:"key"`
			} `json:"w_callbacks"`
		}](t, srv, lib, "lp_presence", map[string]any{"users": []string{l, w}, "room": "room:" + uniq("p"+tag)})
		assertReply(t, "join w (WebSocket)", res.JoinW, "ok", `{}`)
		assertReply(t, "join l (LongPoll)", res.JoinL, "ok", `{}`)
		both := []string{l, w}
		slices.Sort(both)
		if !res.Listed || !slices.Equal(res.WList, both) || !slices.Equal(res.LList, both) {
			t.Fatalf("lists: w %v, l %v, want both %v", res.WList, res.LList, both)
		}
		assertReply(t, "set_status over LongPoll", res.SetStatus, "ok", `{}`)
		if !res.StatusSeen {
			t.Errorf("the LongPoll user's status change was not seen by both Presence objects")
		}
		if res.Leave != "ok" || !res.Left {
			t.Errorf("leave over LongPoll: reply %q, w saw it leave %v", res.Leave, res.Left)
		}
		assertReply(t, "rejoin over LongPoll", res.Rejoin, "ok", `{}`)
		if !res.Back {
			t.Errorf("w did not see the LongPoll user back")
		}
		if !res.Expired {
			t.Errorf("w still lists the LongPoll user 10 s after its client went away (-longpoll-idle 2s)")
		}
		t.Logf("presence leave %d ms after the LongPoll client went away (-longpoll-idle 2s)", res.ExpiryMs)
		var seq []string
		for _, cb := range res.WCallbacks {
			if cb.Key == l {
				seq = append(seq, cb.Type)
			}
		}
		if want := []string{"join", "leave", "join", "leave"}; !slices.Equal(seq, want) {
			t.Errorf("w's onJoin/onLeave for the LongPoll user: %v, want %v", seq, want)
		}
	})
}

// The join deadline on LongPoll: the idle client's onMessage gets the
// join_timeout phx_connect_error, then the session is gone and the client
// opens again; a LongPoll client that joined is not touched.
func TestJSLongPollJoinDeadline(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-join-deadline", "1s")
	forEachLib(t, func(t *testing.T, lib jsLib) {
		id := uniq("lpjd" + libTag(lib))
		res := runLPJS[struct {
			joinDeadlineResult
			IdleTold     bool `json:"idle_told"`
			IdleReopened bool `json:"idle_reopened"`
		}](t, srv, lib, "lp_join_deadline", map[string]any{"user": id, "room": "room:" + id, "observeMs": 2500})
		checkJoinDeadlineActive(t, res.joinDeadlineResult, "LongPoll")
		// LongPoll only: the client that joined sees no onError either.
		if n := count(res.ActiveEvents, "error"); n != 0 {
			t.Errorf("the LongPoll client that joined got onError: %s", describe(res.ActiveEvents))
		}
		evs := socketLevel(untilMark(res.IdleEvents, "stop"))
		if !res.IdleTold || len(evs) < 2 || evs[0].Type != "open" || evs[1].Type != "message" {
			t.Fatalf("idle LongPoll client: want open then the join_timeout message: %s", describe(evs))
		}
		checkConnectErrorMessage(t, evs[1], `{"reason":"join_timeout"}`)
		var rest []string
		for _, e := range evs[2:] {
			rest = append(rest, e.String())
		}
		want := []string{"error(410)", `close(3410 "session_gone" clean=false)`, "open"}
		if lib.Version < "1.8" {
			want = []string{"open"} // 1.7 adopts the new session silently
		}
		if !res.IdleReopened || !slices.Equal(rest, want) {
			t.Errorf("after the message: got %q, want %q", rest, want)
		}
	})
}

// ---- the endpoint with net/http ----

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

// expectGone checks that c's session takes no POST and that a poll gets a
// new session (after what was still queued).
func (c *lpConn) expectGone(what string) {
	c.t.Helper()
	if code, body := c.post(v2(q("1"), q("99"), "room:x", "echo", `{}`)); code != 200 || body != `{"status":410}` {
		c.t.Errorf("%s: POST got HTTP %d %s, want {\"status\":410}", what, code, body)
	}
	r := c.get()
	if r.Status == 200 { // messages queued before the session ended
		r = c.get()
	}
	if r.Status != 410 || r.Token == "" || r.Token == c.token {
		c.t.Errorf("%s: GET got %+v, want 410 with a new session token", what, r)
	}
}

const lpMaxBody = 8 << 20

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
	srv := startServer(t, "-longpoll-window", "1s", "-longpoll-idle", "4s", "-reject-brake", "0")

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
				t.Errorf("%s: 403 after %v, want ≥ 100 ms after the GET arrives (EXAMPLE_APP.md)", tc.name, d)
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
			c.expectGone(tc.name)
		}
	})

	// A body over 8 MB: HTTP 400. (On the shared server: sending 8 MB to a
	// race-enabled server on a loaded machine may outlast a short idle time.)
	t.Run("oversized body", func(t *testing.T) {
		t.Parallel()
		user := uniq("lpo")
		c := joinLP(t, shared, user, "room:"+user)
		line := v2(q("1"), q("2"), "room:"+user, "echo", `{"pad":"`+strings.Repeat("x", lpMaxBody)+`"}`)
		if code, body := c.post(line); code != http.StatusBadRequest {
			t.Errorf("%d-byte body: HTTP %d %.200s, want 400", len(line), code, body)
		}
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
	// 410 (a POST does not keep it alive), a GET gets a new session.
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
		c.expectGone("expired session")
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

	// CORS preflight (PROTOCOL.md §5.6) and other methods.
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
