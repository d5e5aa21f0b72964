package compat_test

// Channel scenarios run with unmodified phoenix.js (1.8.16 and 1.7.23) against
// the shared phxd. Every scenario uses its own users and topics (uniq), so
// scenarios can run in parallel on one server.
//
// The result types and check functions of the scenarios in js/scenarios.js
// are shared with the LongPoll parity suite (longpoll_parity_test.go), which
// runs the same scenarios over LongPoll.

import (
	"encoding/json"
	"slices"
	"testing"
)

// connectResult is the "connect_ok" scenario's result.
type connectResult struct {
	Opened bool      `json:"opened"`
	Ping   bool      `json:"ping"`
	Events []jsEvent `json:"events"`
}

// checkConnect: the socket opens, and a heartbeat (socket.ping) gets its
// reply; nothing else happens on the socket.
func checkConnect(t *testing.T, res connectResult) {
	t.Helper()
	if !res.Opened {
		t.Fatalf("socket did not open: %s", describe(res.Events))
	}
	if !res.Ping {
		t.Errorf("socket.ping got no heartbeat reply: %s", describe(res.Events))
	}
	evs := socketLevel(res.Events)
	if len(evs) != 2 || evs[0].Type != "open" || evs[1].Type != "message" {
		t.Fatalf("want [open, heartbeat reply], got %s", describe(evs))
	}
	m := evs[1].Msg
	if m.Topic != "phoenix" || m.Event != "phx_reply" || string(m.JoinRef) != "null" ||
		!jsonEqual(m.Payload, []byte(reply("ok", `{}`))) {
		t.Errorf("heartbeat reply: got %s, want [null,<ref>,phoenix,phx_reply,%s]", evs[1], reply("ok", `{}`))
	}
}

// An accepted connect opens, and a heartbeat (socket.ping) gets its reply.
func TestJSConnectAccepted(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res := runJS[connectResult](t, shared, lib, "connect_ok", map[string]any{"user": uniq("conn" + libTag(lib))})
		checkConnect(t, res)
	})
}

// userRoom is the args of a scenario run by one user in a room of its own.
func userRoom(id string) map[string]any { return map[string]any{"user": id, "room": "room:" + id} }

// runUserRoom runs scenario on the shared server as a fresh user (prefix
// plus the lib's tag) in a room of its own; it returns the result and the user.
func runUserRoom[T any](t *testing.T, lib jsLib, prefix, scenario string) (T, string) {
	t.Helper()
	id := uniq(prefix + libTag(lib))
	return runJS[T](t, shared, lib, scenario, userRoom(id)), id
}

// joinsResult is the "joins" scenario's result.
type joinsResult struct {
	Lobby           jsReply           `json:"lobby"`
	PrivateUser     jsReply           `json:"private_user"`
	OtherTopic      jsReply           `json:"other_topic"`
	Bench           jsReply           `json:"bench"`
	BenchEcho       jsReply           `json:"bench_echo"`
	BenchNewMsg     jsReply           `json:"bench_new_msg"`
	BenchBroadcasts []json.RawMessage `json:"bench_broadcasts"`
	PrivateAdmin    jsReply           `json:"private_admin"`
}

// checkJoins checks the "joins" scenario run as user with the bench topic.
func checkJoins(t *testing.T, res joinsResult, user, bench string) {
	t.Helper()
	assertReply(t, "join room:lobby", res.Lobby, "ok", `{}`)
	assertReply(t, "join room:private as a user", res.PrivateUser, "error", `{"reason":"forbidden"}`)
	assertReply(t, "join other:topic", res.OtherTopic, "error", `{"reason":"unmatched topic"}`)
	assertReply(t, "join "+bench, res.Bench, "ok", `{}`)
	assertReply(t, "bench echo", res.BenchEcho, "ok", `{"x":[1,"two",null],"y":{"z":true}}`)
	assertReply(t, "bench new_msg", res.BenchNewMsg, "ok", `{}`)
	assertSameJSONSet(t, "bench new_msg broadcasts received by the sender", res.BenchBroadcasts,
		[]string{`{"user":"` + user + `","body":"hi bench"}`})
	assertReply(t, "join room:private as admin", res.PrivateAdmin, "ok", `{}`)
}

// Joins: ok, refused by the app, unmatched topic, and the bench channel.
func TestJSJoins(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		id, bench := uniq("join"+libTag(lib)), "bench:"+uniq("b"+libTag(lib))
		res := runJS[joinsResult](t, shared, lib, "joins", map[string]any{"user": id, "bench": bench})
		checkJoins(t, res, id, bench)
	})
}

// echoResult is the "echo" scenario's result.
type echoResult struct {
	Join    jsReply   `json:"join"`
	Replies []jsReply `json:"replies"`
}

// checkEcho: each payload sent comes back unchanged, in order.
func checkEcho(t *testing.T, res echoResult, payloads []string) {
	t.Helper()
	assertReply(t, "join", res.Join, "ok", `{}`)
	if len(res.Replies) != len(payloads) {
		t.Fatalf("got %d replies, want %d", len(res.Replies), len(payloads))
	}
	for i, p := range payloads {
		assertReply(t, "echo "+p, res.Replies[i], "ok", p)
	}
}

// rawJSON converts JSON texts for a scenario's args.
func rawJSON(texts []string) []json.RawMessage {
	raw := make([]json.RawMessage, len(texts))
	for i, p := range texts {
		raw[i] = json.RawMessage(p)
	}
	return raw
}

// echo returns any object payload unchanged: nested values, unicode,
// escapes, numbers.
func TestJSEcho(t *testing.T) {
	t.Parallel()
	payloads := []string{
		`{}`,
		`{"hello":"world","n":1,"list":[1,"two",null]}`,
		`{"a":{"b":{"c":[{"d":[true,false,null,1.5,-2,0.1,1e+21]}]}},"empty":{"o":{},"a":[]}}`,
		`{"text":"héllo wörld — ✓ 日本語","emoji":"🎉👩‍👩‍👧","rtl":"مرحبا"}`,
		`{"s":"quote\" backslash\\ slash/ nl\n tab\t nul\u0000 ls\u2028 ps\u2029","":"empty key"}`,
		`{"big":9007199254740991,"neg":-9007199254740991,"exp":1.5e-7}`,
	}
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res := runJS[echoResult](t, shared, lib, "echo", map[string]any{
			"user": uniq("echo" + libTag(lib)), "room": "room:" + uniq("echo"+libTag(lib)), "payloads": rawJSON(payloads),
		})
		checkEcho(t, res, payloads)
	})
}

// repliesResult is the "replies" scenario's result.
type repliesResult struct {
	Join       jsReply `json:"join"`
	ReplyError jsReply `json:"reply_error"`
	Noreply    jsReply `json:"noreply"`
	SetStatus  jsReply `json:"set_status"`
	EchoAfter  jsReply `json:"echo_after"`
}

func checkReplies(t *testing.T, res repliesResult) {
	t.Helper()
	assertReply(t, "join", res.Join, "ok", `{}`)
	assertReply(t, "reply_error", res.ReplyError, "error", `{"reason":"requested"}`)
	assertReply(t, "noreply (500 ms push timeout)", res.Noreply, "timeout", "")
	assertReply(t, "set_status", res.SetStatus, "ok", `{}`)
	assertReply(t, "echo after noreply", res.EchoAfter, "ok", `{"after":"noreply"}`)
}

// reply_error, noreply (push timeout), set_status.
func TestJSReplies(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res, _ := runUserRoom[repliesResult](t, lib, "repl", "replies")
		checkReplies(t, res)
	})
}

// newMsgResult is the "new_msg" scenario's result.
type newMsgResult struct {
	JoinA     jsReply           `json:"join_a"`
	JoinB     jsReply           `json:"join_b"`
	PushA     jsReply           `json:"push_a"`
	PushB     jsReply           `json:"push_b"`
	AReceived []json.RawMessage `json:"a_received"`
	BReceived []json.RawMessage `json:"b_received"`
}

// checkNewMsg: users a and b both receive both broadcasts. aName and bName
// name the two clients in messages (e.g. "a", or "a (LongPoll)").
func checkNewMsg(t *testing.T, res newMsgResult, a, b, aName, bName string) {
	t.Helper()
	assertReply(t, "join "+aName, res.JoinA, "ok", `{}`)
	assertReply(t, "join "+bName, res.JoinB, "ok", `{}`)
	assertReply(t, "new_msg from "+aName, res.PushA, "ok", `{}`)
	assertReply(t, "new_msg from "+bName, res.PushB, "ok", `{}`)
	want := []string{
		`{"user":"` + a + `","body":"hello from a"}`,
		`{"user":"` + b + `","body":"héllo from b ✓"}`,
	}
	assertSameJSONSet(t, "client "+aName+" received", res.AReceived, want)
	assertSameJSONSet(t, "client "+bName+" received", res.BReceived, want)
}

// new_msg between two clients: both receive each broadcast, sender included.
func TestJSNewMsgTwoClients(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		a, b := uniq("nma"+libTag(lib)), uniq("nmb"+libTag(lib))
		res := runJS[newMsgResult](t, shared, lib, "new_msg", map[string]any{"users": []string{a, b}, "room": "room:" + uniq("nm"+libTag(lib))})
		checkNewMsg(t, res, a, b, "a", "b")
	})
}

// crashResult is the "crash" scenario's result.
type crashResult struct {
	JoinA            jsReply   `json:"join_a"`
	JoinB            jsReply   `json:"join_b"`
	AErrored         bool      `json:"a_errored"`
	BEchoAfterCrash  jsReply   `json:"b_echo_after_crash"`
	ARejoined        bool      `json:"a_rejoined"`
	AEchoAfterRejoin jsReply   `json:"a_echo_after_rejoin"`
	Crash            jsReply   `json:"crash"`
	SocketCloses     int       `json:"socket_closes"`
	Events           []jsEvent `json:"events"`
}

// checkCrash: the channel topicA gets phx_error, the socket (of the named
// transport) and the other channel stay up, phoenix.js rejoins the crashed
// channel by itself.
func checkCrash(t *testing.T, res crashResult, topicA, transport string) {
	t.Helper()
	assertReply(t, "join a", res.JoinA, "ok", `{}`)
	assertReply(t, "join b", res.JoinB, "ok", `{}`)
	if !res.AErrored {
		t.Fatalf("channel onError did not fire after crash: %s", describe(res.Events))
	}
	// The server's phx_error: [jr, jr, topic, "phx_error", {"reason":"channel_crash"}]
	// (join_ref in both ref positions, as Phoenix; payload since Phoenix 1.8.10).
	var phxErr []jsEvent
	for _, e := range res.Events {
		if e.Type == "message" && e.Msg.Topic == topicA && e.Msg.Event == "phx_error" {
			phxErr = append(phxErr, e)
		}
	}
	if len(phxErr) != 1 {
		t.Errorf("want exactly one phx_error message for %s, got %d: %s", topicA, len(phxErr), describe(res.Events))
	}
	for _, e := range phxErr {
		m := e.Msg
		if string(m.JoinRef) == "null" || !jsonEqual(m.JoinRef, m.Ref) {
			t.Errorf("phx_error must carry the channel's join_ref as join_ref and ref, got %s", e)
		}
		if !jsonEqual(m.Payload, []byte(`{"reason":"channel_crash"}`)) {
			t.Errorf("phx_error payload %s, want {\"reason\":\"channel_crash\"}", m.Payload)
		}
	}
	for _, e := range res.Events {
		if e.Type == "chan_error" && e.Topic == topicA {
			if !jsonEqual(e.Payload, []byte(`{"reason":"channel_crash"}`)) {
				t.Errorf("channel onError payload %s, want the server's {\"reason\":\"channel_crash\"}", e.Payload)
			}
			break
		}
	}
	assertReply(t, "echo on the other channel after the crash", res.BEchoAfterCrash, "ok", `{"still":"alive"}`)
	if !res.ARejoined {
		t.Errorf("crashed channel did not rejoin: %s", describe(res.Events))
	}
	assertReply(t, "echo on the crashed channel after rejoin", res.AEchoAfterRejoin, "ok", `{"back":true}`)
	assertReply(t, "the crash push itself (Phoenix sends no reply)", res.Crash, "timeout", "")
	if res.SocketCloses != 0 {
		t.Errorf("the %s socket closed %d times; a channel crash must not close it: %s", transport, res.SocketCloses, describe(res.Events))
	}
}

// crash: the channel gets phx_error, the socket and the other channel stay
// up, phoenix.js rejoins the crashed channel by itself.
func TestJSCrash(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res, id := runUserRoom[crashResult](t, lib, "crash", "crash")
		checkCrash(t, res, "room:"+id+"_a", "WebSocket")
	})
}

// leaveMeResult is the "leave_me" scenario's result.
type leaveMeResult struct {
	Join      jsReply   `json:"join"`
	Closed    bool      `json:"closed"`
	State     string    `json:"state"`
	LeaveMe   jsReply   `json:"leave_me"`
	PingAfter bool      `json:"ping_after"`
	Events    []jsEvent `json:"events"`
}

// checkLeaveMe: the server stops the channel, the client gets phx_close
// with payload {}, and the socket stays up.
func checkLeaveMe(t *testing.T, res leaveMeResult) {
	t.Helper()
	assertReply(t, "join", res.Join, "ok", `{}`)
	if !res.Closed {
		t.Fatalf("channel onClose did not fire: %s", describe(res.Events))
	}
	if res.State != "closed" {
		t.Errorf("channel state %q, want closed", res.State)
	}
	for _, e := range res.Events {
		if e.Type == "chan_close" && !jsonEqual(e.Payload, []byte(`{}`)) {
			t.Errorf("channel onClose payload %s, want the server's phx_close payload {}", e.Payload)
		}
		if e.Type == "message" && e.Msg.Event == "phx_close" {
			if string(e.Msg.JoinRef) == "null" || !jsonEqual(e.Msg.JoinRef, e.Msg.Ref) {
				t.Errorf("phx_close must carry the join_ref as join_ref and ref: %s", e)
			}
			if !jsonEqual(e.Msg.Payload, []byte(`{}`)) {
				t.Errorf("phx_close payload %s, want {}", e.Msg.Payload)
			}
		}
	}
	if res.LeaveMe.Status == "error" {
		t.Errorf("leave_me push got an error reply %s", res.LeaveMe.Response)
	}
	if !res.PingAfter {
		t.Errorf("socket does not answer heartbeats after leave_me")
	}
	if n := count(res.Events, "close"); n != 0 {
		t.Errorf("socket closed %d times after leave_me: %s", n, describe(res.Events))
	}
}

// leave_me: the server stops the channel; the client gets phx_close.
func TestJSLeaveMe(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res, _ := runUserRoom[leaveMeResult](t, lib, "leave", "leave_me")
		checkLeaveMe(t, res)
	})
}

// checkKickedWebSocket checks one WebSocket of the kicked user: its first
// close is 1001, clean (contract: disconnect closes with 1001), and onError
// is never called. It reports whether the socket closed at all.
func checkKickedWebSocket(t *testing.T, name string, evs []jsEvent) (closed bool) {
	t.Helper()
	closes := filterEvents(evs, func(e jsEvent) bool { return e.Type == "close" })
	if len(closes) == 0 {
		return false
	}
	if c := closes[0]; c.Code != 1001 || !c.WasClean {
		t.Errorf("socket %s: close %s, want code 1001, clean (contract: disconnect closes with 1001)", name, c)
	}
	if n := count(evs, "error"); n != 0 {
		t.Errorf("socket %s: onError called %d times: %s", name, n, describe(evs))
	}
	return true
}

// kick_me: every socket of the user is closed with 1001; phoenix.js
// reconnects and its channels rejoin.
func TestJSKickReconnectRejoin(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		id := uniq("kick" + libTag(lib))
		res := runJS[struct {
			JoinA      jsReply   `json:"join_a"`
			JoinB      jsReply   `json:"join_b"`
			Kick       jsReply   `json:"kick"`
			Closed     bool      `json:"closed"`
			Rejoined   bool      `json:"rejoined"`
			EchoAAfter jsReply   `json:"echo_a_after"`
			EchoBAfter jsReply   `json:"echo_b_after"`
			AEvents    []jsEvent `json:"a_events"`
			BEvents    []jsEvent `json:"b_events"`
		}](t, shared, lib, "kick", userRoom(id))
		assertReply(t, "join a", res.JoinA, "ok", `{}`)
		assertReply(t, "join b", res.JoinB, "ok", `{}`)
		assertReply(t, "kick_me", res.Kick, "ok", `{}`)
		if !res.Closed {
			t.Fatalf("not every socket of the user was closed:\na:%s\nb:%s", describe(res.AEvents), describe(res.BEvents))
		}
		for name, evs := range map[string][]jsEvent{"a (kicked socket)": res.AEvents, "b (same user)": res.BEvents} {
			checkKickedWebSocket(t, name, evs)
		}
		if !res.Rejoined {
			t.Errorf("sockets did not reconnect and rejoin:\na:%s\nb:%s", describe(res.AEvents), describe(res.BEvents))
		}
		assertReply(t, "echo on a after rejoin", res.EchoAAfter, "ok", `{"after":"kick"}`)
		assertReply(t, "echo on b after rejoin", res.EchoBAfter, "ok", `{"after":"kick"}`)
	})
}

// V2 binary: push_binary → "bin" 01 02 03; event "binary" with bytes →
// binary ok reply with the same bytes; broadcast_binary → "bin_all" 04 05 06
// to every subscriber.
func TestJSBinary(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		a, b := uniq("bina"+libTag(lib)), uniq("binb"+libTag(lib))
		room := "room:" + uniq("bin"+libTag(lib))
		res := runJS[struct {
			JoinA           jsReply           `json:"join_a"`
			JoinB           jsReply           `json:"join_b"`
			PushBinary      jsReply           `json:"push_binary"`
			Binary          jsReply           `json:"binary"`
			BroadcastBinary jsReply           `json:"broadcast_binary"`
			ABin            []json.RawMessage `json:"a_bin"`
			BBin            []json.RawMessage `json:"b_bin"`
			ABinAll         []json.RawMessage `json:"a_bin_all"`
			BBinAll         []json.RawMessage `json:"b_bin_all"`
			AJoinRef        string            `json:"a_join_ref"`
			AMessages       []jsMessage       `json:"a_messages"`
		}](t, shared, lib, "binary", map[string]any{"users": []string{a, b}, "room": room})
		assertReply(t, "join a", res.JoinA, "ok", `{}`)
		assertReply(t, "join b", res.JoinB, "ok", `{}`)
		assertReply(t, "push_binary", res.PushBinary, "ok", `{}`)
		assertSameJSONSet(t, `"bin" pushes received by the pusher`, res.ABin, []string{`{"$binary":"010203"}`})
		assertSameJSONSet(t, `"bin" pushes received by the other client`, res.BBin, nil)
		for _, m := range res.AMessages {
			if m.Event == "bin" && !jsonEqual(m.JoinRef, []byte(q(res.AJoinRef))) {
				t.Errorf(`"bin" push join_ref %s, want the channel's %q (a push carries the join_ref)`, m.JoinRef, res.AJoinRef)
			}
		}
		assertReply(t, "binary 09 08 07", res.Binary, "ok", `{"$binary":"090807"}`)
		assertReply(t, "broadcast_binary", res.BroadcastBinary, "ok", `{}`)
		assertSameJSONSet(t, `"bin_all" received by a`, res.ABinAll, []string{`{"$binary":"040506"}`})
		assertSameJSONSet(t, `"bin_all" received by b`, res.BBinAll, []string{`{"$binary":"040506"}`})
	})
}

// slowResult is the "slow" scenario's result.
type slowResult struct {
	Join jsReply `json:"join"`
	Slow jsReply `json:"slow"`
	Echo jsReply `json:"echo"`
}

// checkSlow: slow {"ms":300} does not block an echo sent right after it.
func checkSlow(t *testing.T, res slowResult) {
	t.Helper()
	assertReply(t, "join", res.Join, "ok", `{}`)
	assertReply(t, "slow", res.Slow, "ok", `{}`)
	assertReply(t, "echo", res.Echo, "ok", `{"during":"slow"}`)
	// The order is compared even when a reply failed above (then the test
	// has failed already).
	if res.Echo.Order > res.Slow.Order {
		t.Errorf("echo's reply arrived after slow's: the slow handler blocked the topic")
	}
}

// slow {"ms":300} does not block an echo sent right after it on the same topic.
func TestJSSlowDoesNotBlockEcho(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res, _ := runUserRoom[slowResult](t, lib, "slow", "slow")
		checkSlow(t, res)
	})
}

// dupJoinResult is the "dup_join" scenario's result.
type dupJoinResult struct {
	JoinFirst        jsReply   `json:"join_first"`
	JoinSecond       jsReply   `json:"join_second"`
	FirstState       string    `json:"first_state"`
	SecondState      string    `json:"second_state"`
	EchoSecond       jsReply   `json:"echo_second"`
	SecondStateAfter string    `json:"second_state_after"`
	Events           []jsEvent `json:"events"`
}

// checkDupJoin: phoenix.js leaves the first channel object before joining
// with the second; the second stays joined.
func checkDupJoin(t *testing.T, res dupJoinResult) {
	t.Helper()
	assertReply(t, "join first", res.JoinFirst, "ok", `{}`)
	assertReply(t, "join second", res.JoinSecond, "ok", `{}`)
	if res.FirstState != "closed" {
		t.Errorf("first channel state %q, want closed (phoenix.js left it)", res.FirstState)
	}
	if res.SecondState != "joined" || res.SecondStateAfter != "joined" {
		t.Errorf("second channel state %q then %q, want joined: %s", res.SecondState, res.SecondStateAfter, describe(res.Events))
	}
	assertReply(t, "echo on the second channel", res.EchoSecond, "ok", `{"via":"second"}`)
	for _, e := range res.Events {
		if (e.Type == "chan_close" || e.Type == "chan_error") && e.Label == "second" {
			t.Errorf("second channel got %s: %s", e, describe(res.Events))
		}
	}
}

// Two channel objects for one topic on one socket: phoenix.js leaves the
// first before joining with the second; the second must stay joined.
func TestJSDuplicateJoin(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		res, _ := runUserRoom[dupJoinResult](t, lib, "dup", "dup_join")
		checkDupJoin(t, res)
	})
}

// assertSameJSONSet compares two lists of JSON values ignoring order.
func assertSameJSONSet(t *testing.T, what string, got []json.RawMessage, want []string) {
	t.Helper()
	left := slices.Clone(want)
	var extra []string
	for _, g := range got {
		i := slices.IndexFunc(left, func(w string) bool { return jsonEqual(g, []byte(w)) })
		if i < 0 {
			extra = append(extra, string(g))
			continue
		}
		left = slices.Delete(left, i, i+1)
	}
	if len(left) > 0 || len(extra) > 0 {
		t.Errorf("%s: missing %v, unexpected %v (got %s)", what, left, extra, got)
	}
}

// hasKeys reports whether the JSON object has exactly these keys.
func hasKeys(obj json.RawMessage, keys ...string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil || len(m) != len(keys) {
		return false
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}
