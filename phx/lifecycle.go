package phx

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// runJoin runs in the new instance's mailbox. old is the instance this join
// replaces (duplicate join), whose phx_close must follow our reply.
func (c *Channel) runJoin(ref []byte, payload Payload, old *Channel) {
	if old != nil {
		select {
		case <-old.Done():
		case <-time.After(duplicateJoinWait):
			c.socket.srv.warn.Warn("duplicate join: old channel did not stop in time", "topic", c.topic)
		}
	}
	var reply any
	var err error
	crashed := c.protectJoin(func() { reply, err = c.route.handler.Join(c, payload) })
	switch {
	case crashed:
		c.refuseJoin(ref, Reason("join crashed"))
	case err != nil:
		c.refuseJoin(ref, c.joinErrorResponse(err))
	default:
		c.acceptJoin(ref, reply)
	}
	// The phx_close of the instance this join replaced; none when it had
	// ended by itself already (a crash the client rejoins after).
	if old != nil {
		if r := old.endReason(); r == nil || errors.Is(r, ErrDuplicateJoin) {
			old.writeClose(serializer.EventClose, Empty)
		}
	}
	if chanState(c.state.Load()) == stateJoined {
		if aj, ok := c.route.handler.(AfterJoiner); ok {
			c.protect(func() { aj.AfterJoin(c) })
		}
	}
}

// protectJoin is protect for Join, whose panic is a refused join rather
// than a crash of a joined channel.
func (c *Channel) protectJoin(f func()) (crashed bool) {
	defer func() {
		if v := recover(); v != nil {
			crashed = true
			c.socket.srv.warn.Error("join crashed", "topic", c.topic, "panic", v)
		}
	}()
	f()
	return false
}

func (c *Channel) joinErrorResponse(err error) any {
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Response
	}
	c.socket.srv.warn.Error("join failed", "topic", c.topic, "err", err)
	return Reason("internal")
}

func (c *Channel) acceptJoin(ref []byte, reply any) {
	srv := c.socket.srv
	srv.pubsub.Subscribe(c.topic, c.subscriber())
	data, binary, err := encodeValue(reply)
	if err != nil {
		srv.warn.Error("join reply", "topic", c.topic, "err", err)
		data, binary = Empty, false
	}
	_ = c.socket.write(&serializer.Message{Kind: serializer.KindReply, JoinRef: c.closeRef(),
		Ref: ref, Topic: c.topic, Status: "ok", Payload: data, Binary: binary})
	c.markJoined()
	c.socket.joinedOne()
	if srv.log.Enabled(context.Background(), slog.LevelDebug) { // spare the arguments' boxing
		srv.log.Debug("joined", "topic", c.topic, "socket", c.socket.id)
	}
}

func (c *Channel) refuseJoin(ref []byte, response any) {
	c.setClosed()
	c.mu.Lock()
	if c.x != nil {
		c.x.onFinish = nil
	}
	c.mu.Unlock()
	c.stopTimers() // a timer its Join armed would hold a unit until it fired
	c.socket.forget(c)
	data, binary, err := encodeValue(response)
	if err != nil {
		data, binary = Empty, false
	}
	_ = c.socket.write(&serializer.Message{Kind: serializer.KindReply, JoinRef: c.closeRef(),
		Ref: ref, Topic: c.topic, Status: "error", Payload: data, Binary: binary})
	c.socket.srv.log.Debug("join refused", "topic", c.topic, "socket", c.socket.id)
	c.markDone()
}

// runIn handles one client event in the mailbox.
func (c *Channel) runIn(msg *InMessage) {
	if chanState(c.state.Load()) != stateJoined {
		return
	}
	var reply any
	var err error
	if c.protect(func() { reply, err = c.route.handler.HandleIn(c, msg) }) {
		return
	}
	// A request gets one reply: when the handler already answered with
	// Channel.Reply, its result adds none (an error is only logged).
	answered := msg.replied.Load()
	switch {
	case err == nil:
		if reply != nil && !answered {
			_ = c.reply(msg.Ref, "ok", reply)
		}
	case errors.Is(err, ErrStop):
		if reply != nil && !answered {
			_ = c.reply(msg.Ref, "ok", reply)
		}
		c.stop(ErrStop, true)
	default:
		var re *ReplyError
		if errors.As(err, &re) && !answered {
			_ = c.reply(msg.Ref, re.status(), re.Response)
			return
		}
		c.socket.srv.warn.Error("handle_in failed", "topic", c.topic, "event", msg.Event, "err", err)
		if !answered {
			_ = c.reply(msg.Ref, "error", Reason("internal"))
		}
	}
}

// runLeave handles phx_leave: ok reply, phx_close, then terminate.
func (c *Channel) runLeave(ref []byte) {
	if chanState(c.state.Load()) == stateClosed {
		return
	}
	_ = c.reply(ref, "ok", Empty)
	c.stop(ErrLeft, true)
}

// stop ends a joined instance from its mailbox. sendClose writes phx_close.
func (c *Channel) stop(reason error, sendClose bool) {
	if sendClose {
		c.writeClose(serializer.EventClose, Empty)
	}
	c.finish(reason)
}

// crash ends the instance after a handler panic: phx_error, then terminate.
func (c *Channel) crash(ce *CrashError) {
	c.socket.srv.warn.Error("channel crashed", "topic", c.topic, "socket", c.socket.id,
		"panic", ce.Value, "stack", stackValue(ce.Stack))
	if chanState(c.state.Load()) == stateClosed {
		return
	}
	c.writeClose(serializer.EventError, RawJSON(`{"reason":"channel_crash"}`))
	c.finish(ce)
}

// writeClose writes phx_close or phx_error stamped with the join_ref the
// client joined with in both ref positions: null in both when it joined
// with a null join_ref, as Phoenix encodes the join_ref it stored. The instance is unregistered first, as
// Phoenix's socket drops a channel before pushing its close: a client that
// rejoins on seeing the frame starts a fresh instance, not a duplicate join.
func (c *Channel) writeClose(event string, payload RawJSON) {
	c.socket.forget(c)
	ref := c.closeRef()
	_ = c.socket.write(&serializer.Message{Kind: serializer.KindPush, JoinRef: ref,
		Ref: ref, Topic: c.topic, Event: event, Payload: payload})
}

// finish unsubscribes, unregisters, runs Terminate once and signals done.
func (c *Channel) finish(reason error) {
	if !c.setClosed() {
		return
	}
	c.socket.srv.pubsub.Unsubscribe(c.topic, c.subscriber())
	c.socket.forget(c)
	if t, ok := c.route.handler.(Terminator); ok {
		c.runCleanup(func() { t.Terminate(c, reason) })
	}
	c.mu.Lock()
	x := c.extra()
	hooks := x.onFinish
	x.onFinish = nil
	x.reason = reason
	c.mu.Unlock()
	for _, f := range hooks {
		c.runCleanup(func() { f(reason) })
	}
	c.markDone()
}

// runCleanup runs termination code; a panic there is logged, not fatal.
func (c *Channel) runCleanup(f func()) {
	defer func() {
		if v := recover(); v != nil {
			c.socket.srv.warn.Error("terminate crashed", "topic", c.topic, "panic", v)
		}
	}()
	f()
}

// setClosed flips the state to closed; false if it already was.
func (c *Channel) setClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if chanState(c.state.Load()) == stateClosed {
		return false
	}
	c.state.Store(int32(stateClosed))
	if c.x != nil {
		c.x.pending = nil
	}
	return true
}

// shutdown terminates the instance because its socket went away or a
// duplicate join replaces it. No frames are written.
func (c *Channel) shutdown(reason error) {
	c.enqueue(func() { c.finish(reason) })
}

// closedErr is a write's error on a closed channel: ErrChannelClosed, which
// matches ErrSocketClosed too once the socket is gone (so that a push to a
// closed socket matches ErrSocketClosed however far its teardown went).
func (c *Channel) closedErr() error {
	if c.socket.gone() {
		return errChannelSocketClosed
	}
	return ErrChannelClosed
}

// gone reports whether the socket's transport has ended and the socket
// been torn down.
func (s *Socket) gone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
