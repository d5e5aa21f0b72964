package phx

import (
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// ChannelHandler is the app code behind a channel route. One value serves
// every channel instance of its route; per-instance state belongs in the
// channel's assigns (Channel.Assign). Calls for one channel instance never
// overlap and run in arrival order. A client frame for an idle channel is
// handled inline, on the goroutine that read it (a netpoll worker for a
// WebSocket: read, handled and answered in one pass); otherwise the call
// waits in the instance's mailbox, run by a goroutine that exists only
// while the mailbox has work. A call that runs inline longer than 1 ms
// moves its channel's later calls to the mailbox, until the channel has
// been fast for a while. The call that blocks first is not moved: while
// it runs, the socket's other frames (for its other channels too) wait,
// and netpoll lets a spare worker serve the other sockets. See "Slow
// handlers" in the package doc.
type ChannelHandler interface {
	// Join authorizes a join of c.Topic(). A nil error accepts it and reply
	// becomes the ok response (nil means {}). A *ReplyError refuses it with
	// that response; any other error refuses it with {"reason":"internal"}
	// and is logged. A panic refuses it with {"reason":"join crashed"}.
	Join(c *Channel, payload Payload) (reply any, err error)

	// HandleIn handles one client event on a joined channel:
	//   - (nil, nil): no reply (the client's push may time out);
	//   - (v, nil): ok reply with response v (Empty for {});
	//   - (_, *ReplyError): a reply with that status and response;
	//   - (v, ErrStop): optional ok reply v, then the channel stops
	//     normally and the client gets phx_close;
	//   - any other error: error reply {"reason":"internal"}, logged;
	//   - a panic: the channel crashes, the client gets phx_error and
	//     rejoins; the socket and its other channels go on.
	// Use Channel.Reply with msg to answer later from another goroutine,
	// and Channel.After for work to do later in the mailbox (it counts
	// toward the socket's inbound cap, Config.MaxInbound, so a client
	// cannot make the server hold unbounded deferred work).
	HandleIn(c *Channel, msg *InMessage) (reply any, err error)
}

// AfterJoiner is implemented by handlers that want to act right after the
// join reply has been written (Phoenix's send(self(), :after_join)), for
// example to push presence_state.
type AfterJoiner interface {
	AfterJoin(c *Channel)
}

// Terminator is implemented by handlers that clean up when a channel
// instance ends, whatever the reason: ErrLeft, ErrStop,
// ErrTransportClosed, ErrDuplicateJoin, or a *CrashError.
type Terminator interface {
	Terminate(c *Channel, reason error)
}

// Interceptor is implemented by handlers that rewrite some broadcasts per
// channel instance (Phoenix's intercept + handle_out). Broadcasts whose
// event is listed by Intercepts go through HandleOut in the mailbox instead
// of being written straight to the client; HandleOut typically calls Push.
type Interceptor interface {
	Intercepts() []string
	HandleOut(c *Channel, b *Broadcast) error
}

// CrashError is the termination reason of a channel whose handler panicked.
type CrashError struct {
	Value any
	Stack []byte
}

// Error implements error.
func (e *CrashError) Error() string { return fmt.Sprintf("phx: channel crashed: %v", e.Value) }

// InMessage is one client event delivered to HandleIn.
type InMessage struct {
	Event   string
	Payload Payload
	// Ref is the request ref as raw JSON (nil when the client sent null).
	Ref []byte

	replied atomic.Bool // Channel.Reply answered it: HandleIn's result adds none
}

type chanState int32

const (
	stateJoining chanState = iota
	stateJoined
	stateClosed
)

// duplicateJoinWait bounds how long a new join waits for the instance it
// replaces to terminate, as Phoenix does.
const duplicateJoinWait = 5 * time.Second

// Channel is one joined (or joining) topic on one socket. An idle one is
// kept small (112 bytes): what few instances need lives in chanExtra,
// made on first use.
type Channel struct {
	// assigns is nil while the instance sees its socket's assigns; the
	// first Assign copies them (copy-on-write: most channels never assign,
	// and an idle channel should not pay for a copy).
	assigns *Assigns
	socket  *Socket
	route   *route
	topic   string
	joinRef []byte
	id      uint64 // its SubscriberID on its topic

	mu       sync.Mutex
	x        *chanExtra // (mu) nil until needed
	state    atomic.Int32
	running  bool   // (mu) something of the channel is queued or running (mailbox.go)
	slow     bool   // (mu) its work goes through the mailbox, not inline
	strikes  uint8  // (mu) times it was found slow (each doubles its recovery)
	ended    bool   // (mu) markDone ran
	fastRuns uint16 // (mu) mailbox items in a row under inlineBudget while slow

	// nullJoin: the client joined with a null join_ref, so the join reply,
	// phx_close and phx_error carry null where the join_ref goes (closeRef).
	nullJoin bool
}

// chanExtra is the part of a Channel that most instances never use, or
// use only while busy or ending (under Channel.mu).
type chanExtra struct {
	queue    []mail                   // the mailbox (mailbox.go)
	onFinish []func(reason error)     // OnTerminate hooks and timer release
	pending  []func()                 // writes held back until the join reply is out
	timers   map[*afterTimer]struct{} // armed After timers, each one unit of inbound work
	done     chan struct{}            // made on demand (Done): most instances are never waited for
	reason   error                    // why the instance ended (set by finish)
}

// extra returns c's chanExtra, making it if need be; c.mu must be held.
func (c *Channel) extra() *chanExtra {
	if c.x == nil {
		c.x = &chanExtra{}
	}
	return c.x
}

// closeRef is the ref of the join reply's join_ref and of phx_close and
// phx_error frames: the join_ref, or nil (null) when the client joined
// with none.
func (c *Channel) closeRef() []byte {
	if c.nullJoin {
		return nil
	}
	return c.joinRef
}

// Topic returns the channel's topic.
func (c *Channel) Topic() string { return c.topic }

// JoinRef returns the join_ref of this instance as raw JSON.
func (c *Channel) JoinRef() []byte { return c.joinRef }

// Socket returns the socket the channel lives on.
func (c *Channel) Socket() *Socket { return c.socket }

// Assigns returns the channel's assigns: the socket's, plus whatever this
// instance set with Assign.
func (c *Channel) Assigns() Assigns {
	if c.assigns != nil {
		return *c.assigns
	}
	return c.socket.Assigns
}

// Assign sets key for this channel instance only, as Phoenix's assign/3 on
// a channel socket: the socket's assigns and the other channels' stay as
// they are, and so do Assigns values read before. Call it from the
// channel's handlers (its mailbox).
//
// Once the instance has assigns of its own, Assign replaces them in place:
// With makes a new list, and Assigns values read before hold the old one,
// so one allocation per call instead of two.
func (c *Channel) Assign(key string, value any) {
	if c.assigns != nil {
		*c.assigns = c.assigns.With(key, value)
		return
	}
	a := c.socket.Assigns.With(key, value)
	c.assigns = &a
}

// Done is closed once the instance has terminated.
func (c *Channel) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	x := c.extra()
	if x.done == nil {
		x.done = make(chan struct{})
		if c.ended {
			close(x.done)
		}
	}
	return x.done
}

// endReason is why the instance ended, nil while it has not.
func (c *Channel) endReason() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x == nil {
		return nil
	}
	return c.x.reason
}

// markDone records the end of the instance and wakes Done's waiters.
func (c *Channel) markDone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.x != nil && c.x.done != nil {
		close(c.x.done)
	}
}

// Joined reports whether the join succeeded and the instance is still up.
func (c *Channel) Joined() bool { return chanState(c.state.Load()) == stateJoined }

// Send runs f in the channel's mailbox, after everything queued before it
// (Phoenix's handle_info): use it to act on the channel from other
// goroutines without racing its handlers.
func (c *Channel) Send(f func()) {
	c.enqueue(func() {
		if chanState(c.state.Load()) == stateJoined {
			c.protect(f)
		}
	})
}

// OnTerminate registers f to run once when the instance ends, whatever the
// reason, after the handler's Terminate (libraries such as Presence use it
// to clean up after a channel without the app's help). It runs in the
// mailbox; when the instance has already ended it runs at once.
func (c *Channel) OnTerminate(f func(reason error)) {
	c.mu.Lock()
	if chanState(c.state.Load()) != stateClosed {
		x := c.extra()
		x.onFinish = append(x.onFinish, f)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	f(ErrChannelClosed)
}

// Stop stops the channel normally from any goroutine: the client gets
// phx_close.
func (c *Channel) Stop() {
	c.enqueue(func() {
		if chanState(c.state.Load()) == stateJoined {
			c.stop(ErrStop, true)
		}
	})
}

// Push sends event with payload to this client only:
// [join_ref, null, topic, event, payload]. JSON payloads must be objects;
// use Binary for a binary push (V2 WebSocket only).
func (c *Channel) Push(event string, payload any) error {
	data, binary, err := encodeObject(payload)
	if err != nil {
		return err
	}
	m := &serializer.Message{Kind: serializer.KindPush, JoinRef: c.joinRef,
		Topic: c.topic, Event: event, Payload: data, Binary: binary}
	return c.write(m)
}

// Reply answers msg (possibly later, from any goroutine) with status and
// response.
func (c *Channel) Reply(msg *InMessage, status string, response any) error {
	msg.replied.Store(true)
	return c.reply(msg.Ref, status, response)
}

// Broadcast publishes event to every subscriber of the channel's topic,
// this client included.
func (c *Channel) Broadcast(event string, payload any) error {
	return c.socket.srv.Broadcast(c.topic, event, payload)
}

// BroadcastFrom publishes event to every subscriber of the topic except
// this channel instance.
func (c *Channel) BroadcastFrom(event string, payload any) error {
	b, err := NewBroadcast(c.topic, event, payload)
	if err != nil {
		return err
	}
	b.From = c.id
	return c.socket.srv.pubsub.Broadcast(b)
}

// chanSub is the pubsub.Subscriber of a channel instance, subscribed to its
// topic: the Channel itself under another type, so subscribing allocates
// nothing and Deliver stays out of the Channel's API.
type chanSub Channel

// subscriber returns c as its pubsub.Subscriber.
func (c *Channel) subscriber() *chanSub { return (*chanSub)(c) }

func (s *chanSub) SubscriberID() uint64 { return s.id }

// Deliver handles a broadcast on the channel's topic (under the PubSub's
// fan-out: it never blocks). The work is here rather than in a Channel
// method it would call: one call less per delivery of a fan-out.
func (s *chanSub) Deliver(b *Broadcast) {
	c := (*Channel)(s)
	if c.route.intercepts[b.Event] {
		c.enqueue(func() { c.handleOut(b) })
		return
	}
	if chanState(c.state.Load()) == stateJoined { // the fan-out fast path: no closure
		c.socket.writeBroadcast(b)
		return
	}
	c.writeOrHold(func() { c.socket.writeBroadcast(b) })
}

func (c *Channel) handleOut(b *Broadcast) {
	if chanState(c.state.Load()) != stateJoined {
		return
	}
	ic := c.route.handler.(Interceptor)
	c.protect(func() {
		if err := ic.HandleOut(c, b); err != nil {
			c.socket.srv.log.Warn("handle_out failed", "topic", c.topic, "event", b.Event, "err", err)
		}
	})
}

// write sends m now, or after the join reply while the join is in flight.
func (c *Channel) write(m *serializer.Message) error {
	if chanState(c.state.Load()) == stateClosed {
		return c.closedErr()
	}
	if chanState(c.state.Load()) == stateJoined {
		return c.socket.write(m)
	}
	var err error
	c.writeOrHold(func() { err = c.socket.write(m) })
	return err
}

// writeOrHold is the slow path of a write (callers try the joined fast
// path first, so no closure is made per delivery): it holds w while the
// join is in flight, runs it when the join has just completed, and drops
// it once closed.
func (c *Channel) writeOrHold(w func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch chanState(c.state.Load()) {
	case stateJoining:
		x := c.extra()
		x.pending = append(x.pending, w)
	case stateJoined:
		w()
	}
}

// markJoined releases held writes, in order, and flips the state.
func (c *Channel) markJoined() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.x != nil {
		for _, w := range c.x.pending {
			w()
		}
		c.x.pending = nil
	}
	c.state.Store(int32(stateJoined))
}

func (c *Channel) reply(ref []byte, status string, response any) error {
	if chanState(c.state.Load()) == stateClosed {
		return c.closedErr()
	}
	data, binary, err := encodeValue(response)
	if err != nil {
		return err
	}
	return c.socket.write(&serializer.Message{Kind: serializer.KindReply, JoinRef: c.joinRef,
		Ref: ref, Topic: c.topic, Status: status, Payload: data, Binary: binary})
}

// protect runs app code; a panic crashes the channel.
func (c *Channel) protect(f func()) (crashed bool) {
	defer func() {
		if v := recover(); v != nil {
			crashed = true
			c.crash(&CrashError{Value: v, Stack: debug.Stack()})
		}
	}()
	f()
	return false
}
