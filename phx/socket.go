package phx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/serializer"
)

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
	close(code CloseCode, reason string)
	name() string
	// pauseRead stops taking the client's input and resumeRead restarts
	// it (inbound backpressure, see Config.MaxInbound); neither blocks.
	pauseRead()
	resumeRead()
}

// Socket is one accepted client connection (WebSocket or LongPoll session)
// and the channels it has joined.
type Socket struct {
	// Assigns are what Connect returned. Set them before the socket is up
	// (Connect's answer) and only read them afterwards: its channels see
	// them until their first Assign, which copies them (copy-on-write).
	Assigns Assigns

	srv    *Server
	id     string
	remote netip.AddrPort // the client's address
	info   *ConnectInfo   // nil unless it holds more than remote, transport and vsn (sockinfo.go)
	tr     transport
	subID  uint64 // the socket's SubscriberID on its socket id topic

	mu        sync.Mutex
	channels  chanTable // topic → channel (mu)
	closed    bool      // torn down (mu)
	ver       serializer.Version
	transport uint8 // ConnectInfo.Transport when info is nil (sockinfo.go)
	vsn       uint8 // ConnectInfo.Vsn when info is nil
	joined    atomic.Bool

	in inboundGate // outstanding inbound work (inbound.go)
}

// ID returns the socket id (from Config.ID), "" when none.
func (s *Socket) ID() string { return s.id }

// Server returns the server the socket belongs to.
func (s *Socket) Server() *Server { return s.srv }

// RemoteAddr returns the client's address, a *net.TCPAddr made on each
// call from the netip.AddrPort the socket keeps (Info().RemoteAddr); nil
// for a client without an IP address (over a Unix socket).
func (s *Socket) RemoteAddr() net.Addr {
	if !s.remote.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(s.remote)
}

// sockSub is the pubsub.Subscriber of a socket, subscribed to its socket id
// topic: the Socket itself under another type (no field, no allocation),
// which keeps Deliver out of the Socket's API.
type sockSub Socket

// subscriber returns s as its pubsub.Subscriber.
func (s *Socket) subscriber() *sockSub { return (*sockSub)(s) }

func (ss *sockSub) SubscriberID() uint64 { return ss.subID }
func (ss *sockSub) Deliver(b *Broadcast) { (*Socket)(ss).deliver(b) }

// deliver handles a broadcast on the socket id topic: "disconnect" closes
// the socket with 1001 so that phoenix.js reconnects (and re-authenticates),
// as Phoenix ≥ 1.8.8 does.
func (s *Socket) deliver(b *Broadcast) {
	if b.Event == "disconnect" {
		s.srv.log.Info("socket disconnected by broadcast", "socket", s.id)
		s.tr.close(1001, "")
	}
}

// Close closes the socket from the server side with CloseGoingAway (1001).
func (s *Socket) Close() { s.tr.close(CloseGoingAway, "") }

// write encodes m in the socket's format and queues it.
func (s *Socket) write(m *serializer.Message) error {
	buf, binary, err := serializer.Encode(s.ver, nil, m)
	if err != nil {
		s.srv.warn.Warn("encode failed", "topic", m.Topic, "event", m.Event, "err", err)
		return err
	}
	if m.Kind == serializer.KindReply {
		return s.tr.sendReply(binary, buf)
	}
	return s.tr.send(binary, buf)
}

func (s *Socket) writeBroadcast(b *Broadcast) {
	buf, binary, err := b.Encoded(s.ver)
	if err != nil {
		s.srv.warn.Warn("broadcast not sent", "topic", b.Topic, "event", b.Event, "err", err)
		return
	}
	if s.sendCompressedBroadcast(b, buf, binary) { // compress.go
		return
	}
	_ = s.tr.send(binary, buf)
}

// handleFrame decodes and dispatches one inbound frame. It runs on the
// transport's reader, serially per socket. It returns an error, and the
// transport closes the socket (closeCodeFor gives the code), only for what
// no reply can answer: a frame Phoenix cannot decode either (its socket
// process crashes on them) or a ref over Config.MaxRefBytes. Everything
// else is answered as Phoenix 1.7 answers it, and the socket stays open:
//
//   - A topic that is not a JSON string matches no channel: phx_join and
//     other events get {"reason":"unmatched topic"}, phx_leave an ok reply,
//     the raw topic echoed in both.
//   - An event that is not a JSON string is never a reserved event: on a
//     topic not joined it gets "unmatched topic"; on a joined one it gets
//     {"reason":"invalid event"} and never reaches the channel (Phoenix
//     hands it to the channel, whose handle_in clauses would crash on it).
//   - Any other event on a joined topic goes to the channel whatever its
//     join_ref (null or stale included): the reply carries the channel's
//     join_ref. Phoenix checks join_ref only on phx_leave.
//   - Any JSON payload reaches the handler, not only objects.
//   - A topic over MaxTopicBytes or an event over MaxEventBytes gets an
//     error reply saying so (see Config) and goes nowhere.
func (s *Socket) handleFrame(data []byte, binary bool) error {
	s.srv.stats.dash.frameIn(s.subID)
	m, err := serializer.Decode(s.ver, data, binary)
	if err != nil {
		return err
	}
	if err := s.checkRefs(&m); err != nil {
		return err
	}
	if !s.checkLengths(&m) {
		return nil
	}
	// A topic or event that is not a string has Topic or Event "": it is
	// neither the heartbeat nor a reserved event.
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

// checkRefs refuses a ref or join_ref longer than Config.MaxRefBytes: the
// reply would have to echo it, so none can be sent.
func (s *Socket) checkRefs(m *serializer.Message) error {
	limit := s.srv.cfg.MaxRefBytes
	switch {
	case limit < 0:
		return nil
	case len(m.Ref) > limit:
		return fmt.Errorf("%w: ref is %d bytes, limit %d", ErrRefTooLong, len(m.Ref), limit)
	case len(m.JoinRef) > limit:
		return fmt.Errorf("%w: join_ref is %d bytes, limit %d", ErrRefTooLong, len(m.JoinRef), limit)
	}
	return nil
}

// checkLengths answers a topic or event over its limit with an error reply
// and reports whether m may go on. The reply never holds the long string:
// an over-long topic is answered on the empty topic.
func (s *Socket) checkLengths(m *serializer.Message) bool {
	cfg := &s.srv.cfg
	topicLen, eventLen := len(m.Topic)+len(m.RawTopic), len(m.Event)+len(m.RawEvent)
	switch {
	case cfg.MaxTopicBytes >= 0 && topicLen > cfg.MaxTopicBytes:
		s.srv.warn.Warn("message refused: topic too long", "socket", s.id, "bytes", topicLen,
			"limit", cfg.MaxTopicBytes, "topic", topicForLog(m))
		s.replyError(nil, m.Ref, &serializer.Message{}, "topic too long")
		return false
	case cfg.MaxEventBytes >= 0 && eventLen > cfg.MaxEventBytes:
		s.srv.warn.Warn("message refused: event too long", "socket", s.id, "bytes", eventLen,
			"limit", cfg.MaxEventBytes, "topic", topicForLog(m), "event", eventForLog(m))
		s.replyError(nil, m.Ref, m, "event too long")
		return false
	}
	return true
}

// replyError answers with {"reason": reason} and status "error" on the
// topic of at (its raw topic when it was not a string). reason is one of
// this file's constants: it needs no JSON escaping.
func (s *Socket) replyError(joinRef, ref []byte, at *serializer.Message, reason string) {
	_ = s.write(&serializer.Message{Kind: serializer.KindReply, JoinRef: joinRef, Ref: ref,
		Topic: at.Topic, RawTopic: at.RawTopic, Status: "error",
		Payload: RawJSON(`{"reason":"` + reason + `"}`)})
}

// join handles phx_join: a new channel, or a duplicate join that replaces
// the topic's current one.
func (s *Socket) join(m *serializer.Message) {
	var rt *route
	if m.HasStringTopic() { // any other value matches no channel, as in Phoenix
		rt = s.srv.router.match(m.Topic)
	}
	if rt == nil {
		s.unmatched(m, "join refused: unmatched topic")
		return
	}
	// The refs alias the inbound frame: copy them so a long-lived channel
	// does not pin the whole join message.
	joinRef, nullJoin := bytes.Clone(m.JoinRef), false
	if isNull(joinRef) {
		joinRef, nullJoin = bytes.Clone(m.Ref), true
	}
	// Many sockets join the same topic: they share one copy of its string
	// (unique forgets a topic nobody holds a Handle of at the next GC, so
	// topics joined once cost no lasting table entry).
	topic := unique.Make(m.Topic).Value()
	c := &Channel{socket: s, route: rt, topic: topic, joinRef: joinRef, nullJoin: nullJoin,
		id: pubsub.NewSubscriberID()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	old := s.channels.get(m.Topic)
	if old == nil && s.channels.len() >= s.srv.cfg.MaxChannels {
		s.mu.Unlock()
		s.replyError(joinRef, m.Ref, m, "too many channels joined")
		return
	}
	s.channels.put(c)
	s.mu.Unlock()
	if old != nil {
		old.shutdown(ErrDuplicateJoin)
	}
	ref, payload := m.Ref, Payload{data: m.Payload, binary: m.Binary}
	if old != nil {
		// The join waits for old to end: never on the transport's goroutine.
		c.enqueueIn(len(m.Payload), func() { c.runJoin(ref, payload, old) })
		return
	}
	c.dispatchIn(len(m.Payload), func() { c.runJoin(ref, payload, nil) })
}

// unmatched answers a message for no joined or joinable topic, as Phoenix
// does: an error reply without join_ref, the topic echoed as sent.
func (s *Socket) unmatched(m *serializer.Message, logMsg string) {
	s.srv.warn.Warn(logMsg, "topic", topicForLog(m), "socket", s.id)
	s.replyError(nil, m.Ref, m, "unmatched topic")
}

// topicForLog is m's topic, or its raw JSON when it was not a string.
func topicForLog(m *serializer.Message) any {
	if m.HasStringTopic() {
		return m.Topic
	}
	return m.RawTopic
}

// eventForLog is m's event, or its raw JSON when it was not a string.
func eventForLog(m *serializer.Message) any {
	if m.HasStringEvent() {
		return m.Event
	}
	return m.RawEvent
}

// lookupFor returns the channel joined on m's topic, nil when none (a topic
// that is not a string names no channel).
func (s *Socket) lookupFor(m *serializer.Message) *Channel {
	if !m.HasStringTopic() {
		return nil
	}
	return s.lookup(m.Topic)
}

// leave handles phx_leave with Phoenix's join_ref rule: it
// leaves the channel when the channel was joined without a join_ref or the
// leave names the channel's join_ref; any other leave (a null or stale
// join_ref) raced a server-side close of an earlier instance and is
// ignored without a reply. A leave of a topic not joined is answered ok.
func (s *Socket) leave(m *serializer.Message) {
	c := s.lookupFor(m)
	switch {
	case c == nil:
		_ = s.write(&serializer.Message{Kind: serializer.KindReply, JoinRef: m.JoinRef, Ref: m.Ref,
			Topic: m.Topic, RawTopic: m.RawTopic, Status: "ok", Payload: Empty})
	case !c.nullJoin && !bytes.Equal(m.JoinRef, c.joinRef):
		// stale join_ref: that instance is already gone
	default:
		s.forget(c)
		ref := m.Ref
		c.dispatchIn(0, func() { c.runLeave(ref) })
	}
}

// route hands any other event to the topic's channel whatever its join_ref,
// as Phoenix does.
func (s *Socket) route(m *serializer.Message) {
	c := s.lookupFor(m)
	switch {
	case c == nil:
		s.unmatched(m, "message refused: unmatched topic")
	case !m.HasStringEvent():
		s.srv.warn.Warn("message refused: event is not a string", "topic", m.Topic,
			"event", eventForLog(m), "socket", s.id)
		s.replyError(nil, m.Ref, m, "invalid event")
	default:
		in := &InMessage{Event: m.Event, Payload: Payload{data: m.Payload, binary: m.Binary}, Ref: m.Ref}
		c.dispatchEvent(in, len(m.Payload))
	}
}

func (s *Socket) lookup(topic string) *Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels.get(topic)
}

// forget unregisters c if it is still the topic's current instance.
func (s *Socket) forget(c *Channel) {
	s.mu.Lock()
	s.channels.remove(c)
	s.mu.Unlock()
}

// joinedOne records the first successful join (it lifts the join deadline).
func (s *Socket) joinedOne() {
	if !s.joined.Swap(true) {
		s.srv.deadlines.remove(s)
	}
}

// closedByTransport tears everything down after the connection ended.
func (s *Socket) closedByTransport(code CloseCode, reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	chans := s.channels.all()
	s.channels = chanTable{}
	s.mu.Unlock()
	s.srv.deadlines.remove(s)
	if s.id != "" {
		s.srv.pubsub.Unsubscribe(s.id, s.subscriber())
	}
	for _, c := range chans {
		c.shutdown(ErrTransportClosed)
	}
	s.srv.stats.open.Add(-1)
	s.srv.stats.dash.opened(s.tr.name(), -1)
	pending := waitTerminated(chans, s.srv.teardownWait)
	if s.srv.log.Enabled(context.Background(), slog.LevelInfo) { // spare the arguments' boxing
		s.srv.log.Info("socket closed", "socket", s.id, "transport", s.tr.name(),
			"code", code, "reason", reason, "channels", len(chans), "not_terminated", pending)
	}
}

// waitTerminated waits until every channel of chans has terminated
// (Terminate and OnTerminate hooks run: Presence's untrack included) or
// for bound, and returns how many had not. The "socket closed" line and
// Shutdown's return both mean "torn down" thanks to it.
func waitTerminated(chans []*Channel, bound time.Duration) (pending int) {
	if len(chans) == 0 {
		return 0
	}
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for _, c := range chans {
		select {
		case <-c.Done():
			continue
		case <-timer.C:
		}
		for _, c := range chans {
			select {
			case <-c.Done():
			default:
				pending++
			}
		}
		return pending
	}
	return 0
}

// teardownWait bounds how long a socket's teardown waits for its channels
// to terminate (a Terminate handler that hangs only delays the "socket
// closed" line and Shutdown, and holds the teardown goroutine no longer
// than this); Server.teardownWait, which tests shorten, starts as it.
const teardownWait = 5 * time.Second

// NumChannels counts the socket's channel instances.
func (s *Socket) NumChannels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels.len()
}

func isNull(raw []byte) bool { return len(raw) == 0 || string(raw) == "null" }

// closeCodeFor maps an error of handleFrame to the WebSocket close code it
// earns: 1002 for a broken binary frame, 1003 for binary on V1, 1008 for an
// over-long ref, 1007 for any other frame that cannot be decoded.
func closeCodeFor(err error) CloseCode {
	switch {
	case errors.Is(err, ErrRefTooLong):
		return ClosePolicyViolation
	case errors.Is(err, serializer.ErrBadBinary), errors.Is(err, serializer.ErrFieldTooLong):
		return CloseProtocolError
	case errors.Is(err, serializer.ErrBinaryV1):
		return CloseUnsupportedData
	default:
		return CloseInvalidPayload
	}
}

// closeReasonFor is the close reason sent with closeCodeFor's code.
func closeReasonFor(err error) string {
	if errors.Is(err, ErrRefTooLong) {
		return "ref too long"
	}
	return "invalid message"
}
