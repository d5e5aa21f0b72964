package phx

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/netpoll"
)

// keepChannel hands each joined instance to the test.
type keepChannel struct {
	mu     sync.Mutex
	joined []*Channel
}

func (k *keepChannel) Join(c *Channel, _ Payload) (any, error) {
	k.mu.Lock()
	k.joined = append(k.joined, c)
	k.mu.Unlock()
	return nil, nil
}

func (k *keepChannel) HandleIn(*Channel, *InMessage) (any, error) { return nil, nil }

// last returns the latest instance once it is joined: the client may read
// the join reply before the instance leaves the joining state (a push then
// is held for after the reply, and cannot report a failure).
func (k *keepChannel) last(t *testing.T) *Channel {
	t.Helper()
	k.mu.Lock()
	if len(k.joined) == 0 {
		k.mu.Unlock()
		t.Fatal("no channel joined")
	}
	c := k.joined[len(k.joined)-1]
	k.mu.Unlock()
	waitState(t, c, stateJoined)
	return c
}

func waitState(t *testing.T, c *Channel, want chanState) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); chanState(c.state.Load()) != want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("channel state %v, want %v", chanState(c.state.Load()), want)
		}
	}
}

// waitGone waits until the socket has been torn down after its transport
// closed (the teardown runs on its own goroutine).
func waitGone(t *testing.T, s *Socket) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !s.gone(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("socket not torn down")
		}
	}
}

// expectSocketClosed pushes on c, whose socket is closed, and checks the
// error: ErrSocketClosed both right after the close and after the
// teardown (when the channel is closed too).
func expectSocketClosed(t *testing.T, c *Channel) {
	t.Helper()
	if err := c.Push("late", Reason("x")); !errors.Is(err, ErrSocketClosed) {
		t.Fatalf("push right after close: %v, want ErrSocketClosed", err)
	}
	if err := c.Reply(&InMessage{Ref: []byte(`"9"`)}, "ok", Empty); !errors.Is(err, ErrSocketClosed) {
		t.Fatalf("reply right after close: %v, want ErrSocketClosed", err)
	}
	waitGone(t, c.Socket())
	waitState(t, c, stateClosed)
	err := c.Push("late", Reason("x"))
	if !errors.Is(err, ErrSocketClosed) || !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("push after teardown: %v, want ErrSocketClosed and ErrChannelClosed", err)
	}
	err = c.Reply(&InMessage{Ref: []byte(`"9"`)}, "ok", Empty)
	if !errors.Is(err, ErrSocketClosed) || !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("reply after teardown: %v, want ErrSocketClosed and ErrChannelClosed", err)
	}
}

func TestPushClosedSocketWebSocket(t *testing.T) {
	srv := newServerForTest(t, Config{})
	k := &keepChannel{}
	srv.Channel("keep:*", k)
	c := dialWire(t, startWire(t, srv))
	if err := c.send(`["1","1","keep:a","phx_join",{}]`); err != nil {
		t.Fatal(err)
	}
	c.expectText(`["1","1","keep:a","phx_reply",{"response":{},"status":"ok"}]`)
	ch := k.last(t)
	ch.Socket().Close()
	if err := ch.Push("late", Reason("x")); !errors.Is(err, ErrSocketClosed) {
		t.Fatalf("push right after close: %v, want ErrSocketClosed", err)
	}
	if code, _ := c.expectClose(); code != int(CloseGoingAway) {
		t.Fatalf("closed with %d, want %d", code, CloseGoingAway)
	}
	_ = c.conn.Close() // the server need not wait for our close frame
	expectSocketClosed(t, ch)
	// the transport's own cause stays reachable
	if err := ch.Socket().tr.send(false, []byte("x")); !errors.Is(err, netpoll.ErrClosed) || !errors.Is(err, ErrSocketClosed) {
		t.Fatalf("transport write: %v", err)
	}
}

func TestPushClosedSocketLongPoll(t *testing.T) {
	srv := newLPServer(t, Config{})
	k := &keepChannel{}
	srv.Channel("keep:*", k)
	c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
	c.open()
	c.post(`["1","1","keep:a","phx_join",{}]`)
	c.collect(1)
	ch := k.last(t)
	ch.Socket().Close()
	expectSocketClosed(t, ch)
}

// A write that finds the socket's output over its cap fails with
// ErrSlowConsumer (which is also ErrSocketClosed) over either transport.
func TestPushSlowConsumerBothTransports(t *testing.T) {
	big := Reason(strings.Repeat("x", 2048))
	check := func(t *testing.T, ch *Channel) {
		t.Helper()
		err := ch.Push("big", big)
		if !errors.Is(err, ErrSlowConsumer) || !errors.Is(err, ErrSocketClosed) {
			t.Fatalf("push over the cap: %v, want ErrSlowConsumer", err)
		}
	}
	t.Run("websocket", func(t *testing.T) {
		srv := newServerForTest(t, Config{Net: NetConfig{WriteQueueBytes: 512}})
		k := &keepChannel{}
		srv.Channel("keep:*", k)
		c := dialWire(t, startWire(t, srv))
		if err := c.send(`["1","1","keep:a","phx_join",{}]`); err != nil {
			t.Fatal(err)
		}
		c.expectText(`["1","1","keep:a","phx_reply",{"response":{},"status":"ok"}]`)
		check(t, k.last(t))
	})
	t.Run("longpoll", func(t *testing.T) {
		srv := newLPServer(t, Config{LongPoll: LongPollConfig{MaxBuffer: 512}})
		k := &keepChannel{}
		srv.Channel("keep:*", k)
		c := &lpClient{t: t, srv: srv, query: "token=good&vsn=2.0.0"}
		c.open()
		c.post(`["1","1","keep:a","phx_join",{}]`)
		c.collect(1)
		check(t, k.last(t))
	})
}
