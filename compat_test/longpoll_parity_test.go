package compat_test

// LongPoll parity:
//
//   - phoenix.js 1.8.16 and 1.7.23 over their own LongPoll transport run the
//     WebSocket suite's scenarios (js/scenarios.js, unchanged; the transport
//     is chosen per client by js/longpoll_parity.js), plus the scenarios
//     whose course differs on LongPoll: kick_me, binary, presence across
//     transports, the join deadline. The rejected connect is
//     TestJSLongPollRejected (longpoll_test.go).
//   - the /socket/longpoll endpoint driven with net/http is
//     longpoll_http_test.go.
//
// Neither phoenix.js release sends X-Phoenix-Longpoll-Token (1.9.0-dev
// does): both append ?token=. The header is checked with net/http only.

import (
	"encoding/json"
	"slices"
	"testing"
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
			// As against Phoenix, which answers a killed session's poll
			// {"status":403}: every version reports the error, closes with
			// its own 1008 "forbidden" and reconnects through connect, then
			// rejoins. (A 410 here would make 1.7 adopt a new session
			// silently, with no error, no close and its channel dead.)
			want := []string{"open", "error(403)", `close(1008 "forbidden" clean=false)`, "open"}
			if lib.Version < "1.8" {
				// 1.7's reconnect closes the closed transport once more
				// (teardown), with no code: its own doing, as against Phoenix
				want = []string{"open", "error(403)", `close(1008 "forbidden" clean=false)`, `close(0 "" clean=false)`, "open"}
			}
			if !slices.Equal(life, want) || !res.ARejoined {
				t.Errorf("LongPoll client: got %q (rejoined %v), want %q then a rejoin: %s", life, res.ARejoined, want, describe(a))
			}
			assertReply(t, "echo on a after the kick", res.EchoAAfter, "ok", `{"after":"kick"}`)
			// its channel saw the connection go (onError), then rejoined: the
			// echo above is answered on the new session
			if !slices.ContainsFunc(res.AEvents, func(e jsEvent) bool { return e.Type == "chan_error" }) {
				t.Errorf("the LongPoll client's channel never saw the kick (no onError): %s", describe(res.AEvents))
			}
		}},
		// LongPoll carries no server→client binary (its messages are JSON strings).
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
			// A ref gets one reply, as in Phoenix.
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

// A LongPoll client whose tab sleeps longer than the idle timeout: its
// session expires on the server (a WebSocket client's Presence sees it
// leave); the poll it sends on waking names the gone session and gets
// {"status":403}, as from Phoenix (whose connect sees the session token as
// the `token` param and refuses it), so both versions report the error,
// close, reconnect and rejoin. (On a 410 1.7 would adopt a new session
// silently, its channel dead; 1.8 would close with its own 3410.)
func TestJSLongPollExpiry(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-longpoll-window", "1s", "-longpoll-idle", "2s")
	forEachLib(t, func(t *testing.T, lib jsLib) {
		tag := "lpx" + libTag(lib)
		l, w := uniq("xl"+tag), uniq("xw"+tag)
		room := "room:" + uniq("x"+tag)
		res := runLPJS[struct {
			JoinW     jsReply   `json:"join_w"`
			JoinL     jsReply   `json:"join_l"`
			Listed    bool      `json:"listed"`
			Expired   bool      `json:"expired"`
			Reopened  bool      `json:"reopened"`
			Back      bool      `json:"back"`
			EchoAfter jsReply   `json:"echo_after"`
			LEvents   []jsEvent `json:"l_events"`
		}](t, srv, lib, "lp_expiry", map[string]any{"users": []string{l, w}, "room": room})
		assertReply(t, "join w (WebSocket)", res.JoinW, "ok", `{}`)
		assertReply(t, "join l (LongPoll)", res.JoinL, "ok", `{}`)
		if !res.Listed || !res.Expired {
			t.Fatalf("w saw l listed %v, then leave while l slept %v (-longpoll-idle 2s): %s", res.Listed, res.Expired, describe(res.LEvents))
		}
		var life []string // open/error/close, in order
		for _, e := range socketLevel(res.LEvents) {
			if e.Type != "message" {
				life = append(life, e.String())
			}
		}
		want := []string{"open", "error(403)", `close(1008 "forbidden" clean=false)`, "open"}
		if lib.Version < "1.8" { // 1.7's teardown closes once more (see kick_me)
			want = []string{"open", "error(403)", `close(1008 "forbidden" clean=false)`, `close(0 "" clean=false)`, "open"}
		}
		if !slices.Equal(life, want) {
			t.Errorf("l after waking: got %q, want %q: %s", life, want, describe(res.LEvents))
		}
		if !slices.ContainsFunc(res.LEvents, func(e jsEvent) bool { return e.Type == "chan_error" }) {
			t.Errorf("l's channel never saw its session go (no onError): %s", describe(res.LEvents))
		}
		if !res.Reopened || !res.Back {
			t.Errorf("l reconnected %v, rejoined and listed again by w %v: %s", res.Reopened, res.Back, describe(res.LEvents))
		}
		assertReply(t, "echo on l's channel after the rejoin", res.EchoAfter, "ok", `{"after":"expiry"}`)
	})
}

// The join deadline on LongPoll: the idle client's onMessage gets the
// join_timeout phx_connect_error, then its next poll gets 403 (onError,
// close 1008) and the client connects again; a LongPoll client that
// joined is not touched.
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
		// the server ended the session: its next poll is 403, as a killed
		// session's in Phoenix, so every version closes and reconnects
		want := []string{"error(403)", `close(1008 "forbidden" clean=false)`, "open"}
		if lib.Version < "1.8" { // 1.7's teardown closes once more (see kick_me)
			want = []string{"error(403)", `close(1008 "forbidden" clean=false)`, `close(0 "" clean=false)`, "open"}
		}
		if !res.IdleReopened || !slices.Equal(rest, want) {
			t.Errorf("after the message: got %q, want %q", rest, want)
		}
	})
}
