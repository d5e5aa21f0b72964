package phx

import (
	stdjson "encoding/json"
	"fmt"
	"testing"
	"time"
)

// reentrant is a channel whose handlers, running inline on the netpoll
// worker, call back into their own channel, topic and socket.
type reentrant struct{ terminated chan error }

func (r *reentrant) Join(*Channel, Payload) (any, error) { return nil, nil }

func (r *reentrant) Intercepts() []string { return []string{"ib"} }

func (r *reentrant) HandleOut(c *Channel, b *Broadcast) error {
	return c.Push("ib_out", stdjson.RawMessage(`{"seen":true}`))
}

func (r *reentrant) Terminate(_ *Channel, reason error) { r.terminated <- reason }

func (r *reentrant) HandleIn(c *Channel, msg *InMessage) (any, error) {
	switch msg.Event {
	case "bcast": // to its own topic: delivered to its own socket, inline
		if err := c.Broadcast("b", stdjson.RawMessage(`{}`)); err != nil {
			return nil, err
		}
	case "ibcast": // intercepted: HandleOut runs after this call, in order
		if err := c.Broadcast("ib", stdjson.RawMessage(`{}`)); err != nil {
			return nil, err
		}
	case "push":
		if err := c.Push("p", stdjson.RawMessage(`{}`)); err != nil {
			return nil, err
		}
	case "stop": // Stop from inside its own handler: must not wait on itself
		c.Stop()
	case "panic":
		panic("boom")
	case "close":
		c.Socket().Close()
	}
	return stdjson.RawMessage(`{"e":"` + msg.Event + `"}`), nil
}

// TestInlineReentrancy: handlers that run inline and call into their own
// channel (Broadcast to their topic, which delivers to their own socket;
// an intercepted broadcast, whose HandleOut runs in the same channel;
// Push; Stop; a panic; Socket.Close) neither deadlock nor reorder: each
// frame comes in Phoenix's order (what the handler sent, then its reply,
// then what was queued behind it), and the channel ends once.
func TestInlineReentrancy(t *testing.T) {
	srv := newServerForTest(t, Config{})
	r := &reentrant{terminated: make(chan error, 8)}
	srv.Channel("re:*", r)
	c := dialWire(t, startWire(t, srv))
	join := func(jr string) {
		t.Helper()
		if err := c.send(fmt.Sprintf(`["%s","%s","re:a","phx_join",{}]`, jr, jr)); err != nil {
			t.Fatal(err)
		}
		c.expectText(fmt.Sprintf(`["%s","%s","re:a","phx_reply",{"response":{},"status":"ok"}]`, jr, jr))
	}
	ev := func(jr, ref, event string) {
		t.Helper()
		if err := c.send(fmt.Sprintf(`["%s","%s","re:a","%s",{}]`, jr, ref, event)); err != nil {
			t.Fatal(err)
		}
	}
	reply := func(jr, ref, event string) string {
		return fmt.Sprintf(`["%s","%s","re:a","phx_reply",{"response":{"e":"%s"},"status":"ok"}]`, jr, ref, event)
	}
	join("1")
	for i := range 50 { // many rounds: inline and, after a strike, mailbox runs alike
		ref := fmt.Sprint(10 + 4*i)
		ev("1", ref, "bcast")
		c.expectText(`[null,null,"re:a","b",{}]`)
		c.expectText(reply("1", ref, "bcast"))
		ref = fmt.Sprint(11 + 4*i)
		ev("1", ref, "ibcast")
		c.expectText(reply("1", ref, "ibcast"))
		c.expectText(`["1",null,"re:a","ib_out",{"seen":true}]`)
		ref = fmt.Sprint(12 + 4*i)
		ev("1", ref, "push")
		c.expectText(`["1",null,"re:a","p",{}]`)
		c.expectText(reply("1", ref, "push"))
	}
	ev("1", "300", "stop")
	c.expectText(reply("1", "300", "stop"))
	c.expectText(`["1","1","re:a","phx_close",{}]`)
	waitEnded(t, r.terminated)

	join("2")
	ev("2", "301", "panic")
	c.expectText(`["2","2","re:a","phx_error",{"reason":"channel_crash"}]`)
	waitEnded(t, r.terminated)

	join("3")               // the socket survived the crash
	ev("3", "302", "close") // the close frame is queued before the reply would be
	c.expectClose()
	waitEnded(t, r.terminated)
	select {
	case err := <-r.terminated:
		t.Fatalf("a channel ended twice: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}

func waitEnded(t *testing.T, ch <-chan error) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("the channel never terminated (a handler waiting on itself?)")
	}
}

// TestInlineReentrancyLongPoll: the same reentrant handlers, run inline
// by a LongPoll POST (under the session's postMu): the order is the
// WebSocket's, and a handler that closes its own socket does not hang
// the POST that runs it.
func TestInlineReentrancyLongPoll(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect,
		LongPoll: LongPollConfig{Window: 50 * time.Millisecond}})
	r := &reentrant{terminated: make(chan error, 8)}
	srv.Channel("re:*", r)
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	c.post(`["1","1","re:a","phx_join",{}]`, `["1","10","re:a","bcast",{}]`,
		`["1","11","re:a","ibcast",{}]`, `["1","12","re:a","push",{}]`, `["1","13","re:a","stop",{}]`)
	want := []string{
		`["1","1","re:a","phx_reply",{"response":{},"status":"ok"}]`,
		`[null,null,"re:a","b",{}]`,
		`["1","10","re:a","phx_reply",{"response":{"e":"bcast"},"status":"ok"}]`,
		`["1","11","re:a","phx_reply",{"response":{"e":"ibcast"},"status":"ok"}]`,
		`["1",null,"re:a","ib_out",{"seen":true}]`,
		`["1",null,"re:a","p",{}]`,
		`["1","12","re:a","phx_reply",{"response":{"e":"push"},"status":"ok"}]`,
		`["1","13","re:a","phx_reply",{"response":{"e":"stop"},"status":"ok"}]`,
		`["1","1","re:a","phx_close",{}]`,
	}
	if got := c.collect(len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages\n got %q\nwant %q", got, want)
	}
	waitEnded(t, r.terminated)

	done := make(chan struct{})
	go func() {
		defer close(done)
		c.do("POST", `["3","3","re:a","phx_join",{}]`+"\n"+`["3","4","re:a","close",{}]`,
			"application/x-ndjson", nil)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a POST whose handler closed its own socket never returned")
	}
	waitEnded(t, r.terminated)
}
