package phx

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// Assigns holds app data attached at connect (and per channel).
type Assigns map[string]any

// String returns the value at key if it is a string, else "".
func (a Assigns) String(key string) string {
	s, _ := a[key].(string)
	return s
}

func (a Assigns) clone() Assigns {
	c := make(Assigns, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

// transport is what a Socket writes to: a WebSocket connection or a
// LongPoll session.
type transport interface {
	// send queues one encoded frame; it never blocks.
	send(binary bool, payload []byte) error
	// sendReply is send for a reply: a transport may write it at once from
	// the calling goroutine when nothing else is queued (replies answer one
	// push each, so they gain latency without losing the coalescing that
	// broadcasts rely on).
	sendReply(binary bool, payload []byte) error
	// close ends the connection with a close code and reason (WebSocket)
	// or ends the session (LongPoll).
	close(code int, reason string)
	name() string
	// pauseRead stops taking the client's input and resumeRead restarts
	// it (inbound backpressure, see Config.MaxInbound); neither blocks.
	pauseRead()
	resumeRead()
}

// Socket is one accepted client connection (WebSocket or LongPoll session)
// and the channels it has joined.
type Socket struct {
	// Assigns are what Connect returned. Treat them as read-only once the
	// socket is up: every channel starts from a copy.
	Assigns Assigns

	srv         *Server
	id          string
	ver         serializer.Version
	info        *ConnectInfo
	tr          transport
	subID       uint64
	connectedAt time.Time
	joined      atomic.Bool

	mu       sync.Mutex
	channels map[string]*Channel
	closed   bool

	in inboundGate // outstanding inbound work (inbound.go)
}

// ID returns the socket id (from Config.ID), "" when none.
func (s *Socket) ID() string { return s.id }

// Server returns the server the socket belongs to.
func (s *Socket) Server() *Server { return s.srv }

// Info returns what the client presented at connect.
func (s *Socket) Info() *ConnectInfo { return s.info }

// RemoteAddr returns the client's address.
func (s *Socket) RemoteAddr() net.Addr { return s.info.RemoteAddr }

// SubscriberID implements Subscriber (for the socket id topic).
func (s *Socket) SubscriberID() uint64 { return s.subID }

// Deliver implements Subscriber: a "disconnect" broadcast on the socket id
// closes the socket with 1001 so that phoenix.js reconnects (and
// re-authenticates), as Phoenix ≥ 1.8.8 does.
func (s *Socket) Deliver(b *Broadcast) {
	if b.Event == "disconnect" {
		s.srv.log.Info("socket disconnected by broadcast", "socket", s.id)
		s.tr.close(1001, "")
	}
}

// Close closes the socket from the server side with code 1001.
func (s *Socket) Close() { s.tr.close(1001, "") }

// write encodes m in the socket's format and queues it.
func (s *Socket) write(m *serializer.Message) error {
	buf, binary, err := serializer.Encode(s.ver, nil, m)
	if err != nil {
		s.srv.log.Warn("encode failed", "topic", m.Topic, "event", m.Event, "err", err)
		return err
	}
	if m.Kind == serializer.KindReply {
		return s.tr.sendReply(binary, buf)
	}
	return s.tr.send(binary, buf)
}

func (s *Socket) writeBroadcast(b *Broadcast) {
	buf, binary, err := b.encoded(s.ver)
	if err != nil {
		s.srv.log.Warn("broadcast not sent", "topic", b.Topic, "event", b.Event, "err", err)
		return
	}
	_ = s.tr.send(binary, buf)
}

// handleFrame decodes and dispatches one inbound frame. It runs on the
// transport's reader, serially per socket. A frame that cannot be decoded
// closes the socket (Phoenix's socket process crashes on them).
func (s *Socket) handleFrame(data []byte, binary bool) error {
	m, err := serializer.Decode(s.ver, data, binary)
	if err != nil {
		return err
	}
	if m.Topic == serializer.TopicPhoenix && m.Event == serializer.EventHeartbeat {
		return s.write(&serializer.Message{Kind: serializer.KindReply, Ref: m.Ref,
			Topic: serializer.TopicPhoenix, Status: "ok", Payload: Empty})
	}
	switch m.Event {
	case serializer.EventJoin:
		s.join(&m)
	case serializer.EventLeave:
		s.leave(&m)
	default:
		s.route(&m)
	}
	return nil
}

func (s *Socket) replyError(joinRef, ref []byte, topic string, reason string) {
	_ = s.write(&serializer.Message{Kind: serializer.KindReply, JoinRef: joinRef, Ref: ref,
		Topic: topic, Status: "error", Payload: RawJSON(`{"reason":"` + reason + `"}`)})
}

// join handles phx_join (PROTOCOL §3.3, §3.6).
func (s *Socket) join(m *serializer.Message) {
	rt := s.srv.router.match(m.Topic)
	if rt == nil {
		s.srv.log.Warn("join refused: unmatched topic", "topic", m.Topic, "socket", s.id)
		s.replyError(nil, m.Ref, m.Topic, "unmatched topic")
		return
	}
	// The refs alias the inbound frame: copy them so a long-lived channel
	// does not pin the whole join message.
	joinRef := bytes.Clone(m.JoinRef)
	closeRef := joinRef
	if isNull(joinRef) {
		joinRef, closeRef = bytes.Clone(m.Ref), nil
	}
	c := &Channel{socket: s, route: rt, topic: m.Topic, joinRef: joinRef, closeRef: closeRef,
		id: NewSubscriberID(), assigns: s.Assigns}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	old := s.channels[m.Topic]
	if old == nil && len(s.channels) >= s.srv.cfg.MaxChannels {
		s.mu.Unlock()
		s.replyError(joinRef, m.Ref, m.Topic, "too many channels joined")
		return
	}
	s.channels[m.Topic] = c
	s.mu.Unlock()
	if old != nil {
		old.shutdown(ErrDuplicateJoin)
	}
	ref, payload := m.Ref, Payload{data: m.Payload, binary: m.Binary}
	c.enqueueIn(len(m.Payload), func() { c.runJoin(ref, payload, old) })
}

// leave handles phx_leave (PROTOCOL §3.7).
func (s *Socket) leave(m *serializer.Message) {
	c := s.lookup(m.Topic)
	switch {
	case c == nil:
		_ = s.write(&serializer.Message{Kind: serializer.KindReply, JoinRef: m.JoinRef, Ref: m.Ref,
			Topic: m.Topic, Status: "ok", Payload: Empty})
	case !isNull(m.JoinRef) && !bytes.Equal(m.JoinRef, c.joinRef):
		// stale join_ref: that instance is already gone
	default:
		s.forget(c)
		ref := m.Ref
		c.enqueueIn(0, func() { c.runLeave(ref) })
	}
}

// route hands any other event to the topic's channel (PROTOCOL §3.4, §3.5).
func (s *Socket) route(m *serializer.Message) {
	c := s.lookup(m.Topic)
	if c == nil {
		s.replyError(nil, m.Ref, m.Topic, "unmatched topic")
		return
	}
	if !isNull(m.JoinRef) && !bytes.Equal(m.JoinRef, c.joinRef) {
		return
	}
	in := &InMessage{Event: m.Event, Payload: Payload{data: m.Payload, binary: m.Binary}, Ref: m.Ref}
	c.enqueueIn(len(m.Payload), func() { c.runIn(in) })
}

func (s *Socket) lookup(topic string) *Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels[topic]
}

// forget unregisters c if it is still the topic's current instance.
func (s *Socket) forget(c *Channel) {
	s.mu.Lock()
	if s.channels[c.topic] == c {
		delete(s.channels, c.topic)
	}
	s.mu.Unlock()
}

// joinedOne records the first successful join (it lifts the join deadline).
func (s *Socket) joinedOne() {
	if !s.joined.Swap(true) {
		s.srv.deadlines.remove(s)
	}
}

// closedByTransport tears everything down after the connection ended.
func (s *Socket) closedByTransport(code int, reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	chans := s.channels
	s.channels = nil
	s.mu.Unlock()
	s.srv.deadlines.remove(s)
	if s.id != "" {
		s.srv.pubsub.Unsubscribe(s.id, s)
	}
	for _, c := range chans {
		c.shutdown(ErrTransportClosed)
	}
	s.srv.stats.open.Add(-1)
	if s.srv.log.Enabled(context.Background(), slog.LevelInfo) { // spare the arguments' boxing
		s.srv.log.Info("socket closed", "socket", s.id, "transport", s.tr.name(),
			"code", code, "reason", reason, "channels", len(chans))
	}
}

// NumChannels counts the socket's channel instances.
func (s *Socket) NumChannels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.channels)
}

func isNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }

// closeCodeFor maps a decode error to the WebSocket close code it earns.
func closeCodeFor(err error) int {
	switch {
	case errors.Is(err, serializer.ErrBadBinary), errors.Is(err, serializer.ErrFieldTooLong):
		return 1002
	case errors.Is(err, serializer.ErrBinaryV1):
		return 1003
	default:
		return 1007
	}
}
