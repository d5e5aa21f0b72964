package phx

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// testChannel is a handler exercising every result kind.
type testChannel struct {
	mu         sync.Mutex
	terminated []error
}

func (tc *testChannel) Join(c *Channel, p Payload) (any, error) {
	var in struct {
		Deny  bool `json:"deny"`
		Crash bool `json:"crash"`
		Fail  bool `json:"fail"`
	}
	_ = p.Decode(&in)
	switch {
	case in.Deny:
		return nil, ErrorReply(Reason("denied"))
	case in.Crash:
		panic("boom in join")
	case in.Fail:
		return nil, errors.New("db down")
	}
	return map[string]int{"n": 1}, nil
}

func (tc *testChannel) HandleIn(c *Channel, msg *InMessage) (any, error) {
	switch msg.Event {
	case "echo":
		return msg.Payload, nil
	case "err":
		return nil, ErrorReply(Reason("nope"))
	case "custom":
		return nil, &ReplyError{Status: "invalid", Response: Reason("x")}
	case "fail":
		return nil, errors.New("secret cause")
	case "none":
		return nil, nil
	case "crash":
		panic("boom")
	case "stop":
		return nil, ErrStop
	case "stop_reply":
		return Reason("bye"), ErrStop
	case "push":
		return Empty, c.Push("pushed", map[string]int{"a": 1})
	case "bcast":
		return Empty, c.Broadcast("shout", map[string]string{"x": "y"})
	case "bcast_from":
		return Empty, c.BroadcastFrom("shout", map[string]string{"x": "from"})
	case "reply_then_fail":
		_ = c.Reply(msg, "ok", Reason("first"))
		return nil, errors.New("push failed after the reply")
	case "later":
		go func() { time.Sleep(10 * time.Millisecond); _ = c.Reply(msg, "ok", Reason("later")) }()
		return nil, nil
	}
	return nil, ErrorReply(Reason("unknown"))
}

func (tc *testChannel) Terminate(c *Channel, reason error) {
	tc.mu.Lock()
	tc.terminated = append(tc.terminated, reason)
	tc.mu.Unlock()
}

func (tc *testChannel) reasons() []error {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]error(nil), tc.terminated...)
}

func newRoomHarness(t *testing.T) (*harness, *testChannel) {
	tc := &testChannel{}
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", tc)
	return srv.connectForTest(t, serializer.V2, NewAssigns("user_id", "u1")), tc
}

const okEmpty = `{"response":{},"status":"ok"}`

func TestJoinAndReplies(t *testing.T) {
	h, _ := newRoomHarness(t)
	h.in(`["1","1","room:a","phx_join",{}]`)
	h.expect(`["1","1","room:a","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	cases := []struct{ name, in, want string }{
		{"echo", `["1","2","room:a","echo",{"k":[1,"two",null]}]`, `["1","2","room:a","phx_reply",{"response":{"k":[1,"two",null]},"status":"ok"}]`},
		{"error reply", `["1","3","room:a","err",{}]`, `["1","3","room:a","phx_reply",{"response":{"reason":"nope"},"status":"error"}]`},
		{"custom status", `["1","4","room:a","custom",{}]`, `["1","4","room:a","phx_reply",{"response":{"reason":"x"},"status":"invalid"}]`},
		{"plain error hides cause", `["1","5","room:a","fail",{}]`, `["1","5","room:a","phx_reply",{"response":{"reason":"internal"},"status":"error"}]`},
		{"null join_ref accepted", `[null,"6","room:a","echo",{}]`, `["1","6","room:a","phx_reply",{"response":{},"status":"ok"}]`},
		{"numeric refs echoed", `["1",7,"room:a","echo",{}]`, `["1",7,"room:a","phx_reply",{"response":{},"status":"ok"}]`},
		{"push then reply", `["1","8","room:a","push",{}]`, `["1",null,"room:a","pushed",{"a":1}]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.in(tc.in)
			h.expect(tc.want)
		})
	}
	h.t = t
	h.expect(`["1","8","room:a","phx_reply",` + okEmpty + `]`)
	h.in(`["1","9","room:a","none",{}]`)
	// a stale join_ref is still the channel's (Phoenix checks it only on
	// phx_leave): the reply carries the channel's join_ref
	h.in(`["99","10","room:a","echo",{}]`)
	h.expect(`["1","10","room:a","phx_reply",` + okEmpty + `]`)
	h.expectNone()
	h.in(`["1","11","room:a","later",{}]`)
	h.expect(`["1","11","room:a","phx_reply",{"response":{"reason":"later"},"status":"ok"}]`)
	// one reply per request: an error after an explicit reply is only logged
	h.in(`["1","12","room:a","reply_then_fail",{}]`)
	h.expect(`["1","12","room:a","phx_reply",{"response":{"reason":"first"},"status":"ok"}]`)
	h.expectNone()
}

func TestJoinRefusals(t *testing.T) {
	h, _ := newRoomHarness(t)
	h.in(`["1","1","room:a","phx_join",{"deny":true}]`)
	h.expect(`["1","1","room:a","phx_reply",{"response":{"reason":"denied"},"status":"error"}]`)
	h.in(`["2","2","room:b","phx_join",{"crash":true}]`)
	h.expect(`["2","2","room:b","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]`)
	h.in(`["3","3","room:c","phx_join",{"fail":true}]`)
	h.expect(`["3","3","room:c","phx_reply",{"response":{"reason":"internal"},"status":"error"}]`)
	h.in(`["4","4","other:x","phx_join",{}]`)
	h.expect(`[null,"4","other:x","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
	h.in(`["1","5","room:a","echo",{}]`)
	h.expect(`[null,"5","room:a","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`)
	if n := h.sock.NumChannels(); n != 0 {
		t.Fatalf("%d channels registered after refused joins", n)
	}
}

func TestLeave(t *testing.T) {
	h, tc := newRoomHarness(t)
	h.in(`["3","3","room:a","phx_join",{}]`)
	h.next()
	h.in(`["3","12","room:a","phx_leave",{}]`)
	h.expect(`["3","12","room:a","phx_reply",` + okEmpty + `]`)
	h.expect(`["3","3","room:a","phx_close",{}]`)
	// leave of a topic that is not joined: ok anyway, no phx_close
	h.in(`["3","13","room:a","phx_leave",{}]`)
	h.expect(`["3","13","room:a","phx_reply",` + okEmpty + `]`)
	h.expectNone()
	waitFor(t, func() bool { return len(tc.reasons()) == 1 })
	if !errors.Is(tc.reasons()[0], ErrLeft) {
		t.Fatalf("terminate reason %v, want ErrLeft", tc.reasons()[0])
	}
}

func TestDuplicateJoin(t *testing.T) {
	h, tc := newRoomHarness(t)
	h.in(`["3","3","room:lobby","phx_join",{}]`)
	h.next()
	h.in(`["14","14","room:lobby","phx_join",{}]`)
	h.expect(`["14","14","room:lobby","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	h.expect(`["3","3","room:lobby","phx_close",{}]`)
	h.in(`["14","15","room:lobby","echo",{}]`)
	h.expect(`["14","15","room:lobby","phx_reply",` + okEmpty + `]`)
	if r := tc.reasons(); len(r) != 1 || !errors.Is(r[0], ErrDuplicateJoin) {
		t.Fatalf("terminate reasons %v", r)
	}
}

func TestCrashAndStop(t *testing.T) {
	h, tc := newRoomHarness(t)
	h.in(`["1","1","room:a","phx_join",{}]`)
	h.next()
	h.in(`["2","2","room:b","phx_join",{}]`)
	h.next()
	h.in(`["1","3","room:a","crash",{}]`)
	h.expect(`["1","1","room:a","phx_error",{"reason":"channel_crash"}]`)
	h.in(`["2","4","room:b","echo",{"still":"up"}]`)
	h.expect(`["2","4","room:b","phx_reply",{"response":{"still":"up"},"status":"ok"}]`)
	h.in(`["2","5","room:b","stop_reply",{}]`)
	h.expect(`["2","5","room:b","phx_reply",{"response":{"reason":"bye"},"status":"ok"}]`)
	h.expect(`["2","2","room:b","phx_close",{}]`)
	waitFor(t, func() bool { return len(tc.reasons()) == 2 })
	var crashed, stopped int
	for _, r := range tc.reasons() { // the two channels terminate concurrently
		var ce *CrashError
		if errors.As(r, &ce) {
			crashed++
		}
		if errors.Is(r, ErrStop) {
			stopped++
		}
	}
	if crashed != 1 || stopped != 1 {
		t.Fatalf("terminate reasons %v", tc.reasons())
	}
}

func TestBroadcastFanOut(t *testing.T) {
	tc := &testChannel{}
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", tc)
	a := srv.connectForTest(t, serializer.V2, Assigns{})
	b := srv.connectForTest(t, serializer.V1, Assigns{})
	a.in(`["1","1","room:x","phx_join",{}]`)
	a.next()
	b.in(`{"topic":"room:x","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`)
	b.expect(`{"event":"phx_reply","payload":{"response":{"n":1},"status":"ok"},"ref":"1","topic":"room:x"}`)
	a.in(`["1","2","room:x","bcast",{}]`)
	a.expect(`[null,null,"room:x","shout",{"x":"y"}]`)
	a.expect(`["1","2","room:x","phx_reply",` + okEmpty + `]`)
	b.expect(`{"event":"shout","payload":{"x":"y"},"ref":null,"topic":"room:x"}`)
	a.in(`["1","3","room:x","bcast_from",{}]`)
	a.expect(`["1","3","room:x","phx_reply",` + okEmpty + `]`)
	b.expect(`{"event":"shout","payload":{"x":"from"},"ref":null,"topic":"room:x"}`)
	a.expectNone()
	if err := srv.Broadcast("room:x", "arr", RawJSON(`[1]`)); !errors.Is(err, ErrPayloadNotObject) {
		t.Fatalf("array payload: %v", err)
	}
}

func TestV1ImplicitJoinRef(t *testing.T) {
	tc := &testChannel{}
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", tc)
	h := srv.connectForTest(t, serializer.V1, Assigns{})
	h.in(`{"topic":"room:a","event":"phx_join","payload":{},"ref":"5"}`)
	h.expect(`{"event":"phx_reply","payload":{"response":{"n":1},"status":"ok"},"ref":"5","topic":"room:a"}`)
	h.in(`{"topic":"room:a","event":"crash","payload":{},"ref":"6"}`)
	h.expect(`{"event":"phx_error","payload":{"reason":"channel_crash"},"ref":null,"topic":"room:a"}`)
}

func TestHeartbeatAndMaxChannels(t *testing.T) {
	srv := newServerForTest(t, Config{MaxChannels: 2})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.in(`[null,"5","phoenix","heartbeat",{}]`)
	h.expect(`[null,"5","phoenix","phx_reply",` + okEmpty + `]`)
	h.in(`["1","1","room:a","phx_join",{}]`)
	h.next()
	h.in(`["2","2","room:b","phx_join",{}]`)
	h.next()
	h.in(`["3","3","room:c","phx_join",{}]`)
	h.expect(`["3","3","room:c","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]`)
}

func TestDisconnectBroadcastClosesSocket(t *testing.T) {
	srv := newServerForTest(t, Config{ID: func(s *Socket) string { return "users_socket:" + s.Assigns.String("user_id") }})
	srv.Channel("room:*", &testChannel{})
	a := srv.connectForTest(t, serializer.V2, NewAssigns("user_id", "u1"))
	b := srv.connectForTest(t, serializer.V2, NewAssigns("user_id", "u1"))
	c := srv.connectForTest(t, serializer.V2, NewAssigns("user_id", "u2"))
	if err := srv.Broadcast("users_socket:u1", "disconnect", nil); err != nil {
		t.Fatal(err)
	}
	a.expectClosed(CloseGoingAway)
	b.expectClosed(CloseGoingAway)
	select {
	case <-c.tr.done:
		t.Fatal("other user's socket closed")
	default:
	}
}

func TestInterceptAndJoinOrdering(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", &interceptChannel{})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.in(`["1","1","room:a","phx_join",{}]`)
	// the join pushes before replying; the push must follow the reply
	h.expect(`["1","1","room:a","phx_reply",` + okEmpty + `]`)
	h.expect(`["1",null,"room:a","during_join",{}]`)
	if err := srv.Broadcast("room:a", "secret", map[string]string{"v": "1"}); err != nil {
		t.Fatal(err)
	}
	h.expect(`["1",null,"room:a","secret",{"seen":true,"v":"1"}]`)
}

type interceptChannel struct{}

func (interceptChannel) Join(c *Channel, _ Payload) (any, error) {
	return nil, c.Push("during_join", nil)
}
func (interceptChannel) HandleIn(*Channel, *InMessage) (any, error) { return nil, nil }
func (interceptChannel) Intercepts() []string                       { return []string{"secret"} }
func (interceptChannel) HandleOut(c *Channel, b *Broadcast) error {
	var m map[string]any
	if err := json.Unmarshal(b.Payload, &m); err != nil {
		return err
	}
	m["seen"] = true
	return c.Push(b.Event, m)
}

func TestBadFrames(t *testing.T) {
	h, _ := newRoomHarness(t)
	cases := []struct {
		name   string
		frame  string
		binary bool
		code   CloseCode
	}{
		{"bad json", `["1","1",`, false, CloseInvalidPayload},
		{"short array", `["1","1","room:a"]`, false, CloseInvalidPayload},
		{"invalid utf8", "[null,\"1\",\"room:a\",\"x\",\"\xff\"]", false, CloseInvalidPayload},
		{"unknown binary kind", "\x07\x00\x00", true, CloseProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := h.sock.handleFrame([]byte(tc.frame), tc.binary)
			if err == nil {
				t.Fatal("no error")
			}
			if got := closeCodeFor(err); got != tc.code {
				t.Fatalf("close code %d, want %d (%v)", got, tc.code, err)
			}
			if !strings.HasPrefix(err.Error(), "serializer") {
				t.Fatalf("error %q does not name its origin", err)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAssignIsPerChannel(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V2, NewAssigns("user_id", "u1"))
	h.in(`["1","1","room:a","phx_join",{}]`)
	h.next()
	h.in(`["2","2","room:b","phx_join",{}]`)
	h.next()
	a, b := h.sock.lookup("room:a"), h.sock.lookup("room:b")
	done := make(chan struct{})
	var seen Assigns
	var allocs float64
	a.Send(func() {
		a.Assign("color", "red")
		seen = a.Assigns()
		// a channel with assigns of its own pays only for the new list
		allocs = testing.AllocsPerRun(100, func() { a.Assign("color", "green") })
		a.Assign("color", "blue")
		close(done)
	})
	<-done
	if allocs > 1 {
		t.Fatalf("Assign: %v allocations, want 1", allocs)
	}
	if a.Assigns().String("color") != "blue" || a.Assigns().String("user_id") != "u1" || a.Assigns().Len() != 2 {
		t.Fatalf("channel a assigns %v", a.Assigns())
	}
	if seen.String("color") != "red" {
		t.Fatalf("a later Assign changed assigns read before: %v", seen)
	}
	if _, ok := b.Assigns().Get("color"); ok {
		t.Fatal("Assign leaked into another channel")
	}
	if _, ok := h.sock.Assigns.Get("color"); ok {
		t.Fatal("Assign leaked into the socket")
	}
}

func TestKeepHeaders(t *testing.T) {
	h := http.Header{"Origin": {"https://a"}, "Cookie": {"secret"}, "X-Request-Id": {"7"}}
	kept := keepHeaders(h, []string{"x-request-id", "user-agent"})
	if len(kept) != 1 || kept.Get("X-Request-Id") != "7" {
		t.Fatalf("kept %v", kept)
	}
	if keepHeaders(h, nil) != nil {
		t.Fatal("headers kept without KeepHeaders")
	}
}

// TestLifecycleBothVersions runs join, reply, crash and leave over both
// serializers: the same events, each in its own wire shape (V1 output
// never carries join_ref).
func TestLifecycleBothVersions(t *testing.T) {
	type frames struct{ join, joinOK, echo, echoOK, crash, crashErr, rejoin, leave, leaveOK, closed string }
	want := map[serializer.Version]frames{
		serializer.V1: {
			join:     `{"topic":"room:a","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`,
			joinOK:   `{"event":"phx_reply","payload":{"response":{"n":1},"status":"ok"},"ref":"1","topic":"room:a"}`,
			echo:     `{"topic":"room:a","event":"echo","payload":{"v":1},"ref":"2","join_ref":"1"}`,
			echoOK:   `{"event":"phx_reply","payload":{"response":{"v":1},"status":"ok"},"ref":"2","topic":"room:a"}`,
			crash:    `{"topic":"room:a","event":"crash","payload":{},"ref":"3","join_ref":"1"}`,
			crashErr: `{"event":"phx_error","payload":{"reason":"channel_crash"},"ref":"1","topic":"room:a"}`,
			rejoin:   `{"topic":"room:a","event":"phx_join","payload":{},"ref":"4","join_ref":"4"}`,
			leave:    `{"topic":"room:a","event":"phx_leave","payload":{},"ref":"5","join_ref":"4"}`,
			leaveOK:  `{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"5","topic":"room:a"}`,
			closed:   `{"event":"phx_close","payload":{},"ref":"4","topic":"room:a"}`,
		},
		serializer.V2: {
			join:     `["1","1","room:a","phx_join",{}]`,
			joinOK:   `["1","1","room:a","phx_reply",{"response":{"n":1},"status":"ok"}]`,
			echo:     `["1","2","room:a","echo",{"v":1}]`,
			echoOK:   `["1","2","room:a","phx_reply",{"response":{"v":1},"status":"ok"}]`,
			crash:    `["1","3","room:a","crash",{}]`,
			crashErr: `["1","1","room:a","phx_error",{"reason":"channel_crash"}]`,
			rejoin:   `["4","4","room:a","phx_join",{}]`,
			leave:    `["4","5","room:a","phx_leave",{}]`,
			leaveOK:  `["4","5","room:a","phx_reply",{"response":{},"status":"ok"}]`,
			closed:   `["4","4","room:a","phx_close",{}]`,
		},
	}
	bothVersions(t, func(t *testing.T, ver serializer.Version) {
		f := want[ver]
		srv := newServerForTest(t, Config{})
		srv.Channel("room:*", &testChannel{})
		h := srv.connectForTest(t, ver, Assigns{})
		h.in(f.join)
		h.expect(f.joinOK)
		h.in(f.echo)
		h.expect(f.echoOK)
		h.in(f.crash)
		h.expect(f.crashErr)
		h.in(f.rejoin)
		h.next() // the rejoin's reply, as joinOK with ref 4
		h.in(f.leave)
		h.expect(f.leaveOK)
		h.expect(f.closed)
		h.expectNone()
	})
}
