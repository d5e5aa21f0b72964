package phx

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/phxgo/phxgo/netpoll"
	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/serializer"
)

// newSocket builds an accepted socket; it goes live in opened.
func (s *Server) newSocket(info *ConnectInfo, ver serializer.Version, assigns Assigns) *Socket {
	// What Connect has seen is not kept for the socket's life (Phoenix
	// does not keep connect params either): an idle socket stays small.
	info.Header = keepHeaders(info.Header, s.cfg.KeepHeaders)
	info.Params = Params{}
	info.AuthToken = ""
	sock := &Socket{Assigns: assigns, srv: s, ver: ver, subID: pubsub.NewSubscriberID()}
	sock.keepInfo(info)
	if s.cfg.ID != nil {
		sock.id = s.cfg.ID(sock)
	}
	return sock
}

// keepHeaders returns the named headers of h, nil when there are none.
func keepHeaders(h http.Header, names []string) http.Header {
	var kept http.Header
	for _, name := range names {
		if v := h.Values(name); len(v) > 0 {
			if kept == nil {
				kept = make(http.Header, len(names))
			}
			kept[http.CanonicalHeaderKey(name)] = v
		}
	}
	return kept
}

// opened registers a socket whose transport is ready: socket id topic,
// join deadline, counters.
func (s *Server) opened(sock *Socket, tr transport) {
	sock.tr = tr
	now := time.Now()
	s.stats.open.Add(1)
	s.stats.accepted.Add(1)
	s.stats.dash.opened(tr.name(), 1)
	if sock.id != "" {
		// On an event-loop worker: a PubSub that may wait for other
		// nodes is asked not to (pubsub.NoWaitSubscriber).
		if ns, ok := s.pubsub.(pubsub.NoWaitSubscriber); ok {
			ns.SubscribeNoWait(sock.id, sock.subscriber())
		} else {
			s.pubsub.Subscribe(sock.id, sock.subscriber())
		}
	}
	s.deadlines.add(sock, now)
	// Checked first: a disabled level would still format the address and
	// box the arguments on every connect.
	if s.log.Enabled(context.Background(), slog.LevelInfo) {
		s.log.Info("connected", "socket", sock.id, "transport", tr.name(),
			"remote", peerString(sock.remote), "vsn", sock.vsnString())
	}
}

// wsHandler connects one upgraded WebSocket to its Socket: the Socket
// itself under another type (no allocation per connection), which keeps
// netpoll's callbacks out of the Socket's API.
type wsHandler Socket

// handler returns s as the netpoll.Handler of its WebSocket.
func (s *Socket) handler() *wsHandler { return (*wsHandler)(s) }

func (h *wsHandler) socket() *Socket { return (*Socket)(h) }

func (h *wsHandler) OnOpen(c *netpoll.Conn) {
	h.srv.opened(h.socket(), wsTransport{c: c})
}

func (h *wsHandler) OnMessage(c *netpoll.Conn, op netpoll.OpCode, payload []byte) {
	sock := h.socket()
	if err := sock.handleFrame(payload, op == netpoll.OpBinary); err != nil {
		code := closeCodeFor(err)
		sock.srv.warn.Warn("bad frame: closing socket", "socket", sock.id,
			"remote", addrString(c.RemoteAddr()), "code", code, "err", err)
		c.Close(int(code), closeReasonFor(err))
	}
}

// OnClose tears the socket down on a fresh goroutine: it unsubscribes from
// PubSub, which must never happen inside a fan-out that triggered the close.
func (h *wsHandler) OnClose(c *netpoll.Conn, code int, reason string) {
	sock := h.socket()
	sock.srv.teardowns.start(func() { sock.closedByTransport(CloseCode(code), reason) })
}

// wsTransport writes a socket's frames to its WebSocket connection.
type wsTransport struct {
	c *netpoll.Conn
}

func (t wsTransport) send(binary bool, payload []byte) error {
	op := netpoll.OpText
	if binary {
		op = netpoll.OpBinary
	}
	return wsWriteErr(t.c.Send(op, payload))
}

// sendReply writes a reply inline when the connection is idle (see
// netpoll.Conn.SendNow).
func (t wsTransport) sendReply(binary bool, payload []byte) error {
	op := netpoll.OpText
	if binary {
		op = netpoll.OpBinary
	}
	return wsWriteErr(t.c.SendNow(op, payload))
}

func (t wsTransport) close(code CloseCode, reason string) { t.c.Close(int(code), reason) }

func (t wsTransport) name() string { return "websocket" }

func (t wsTransport) pauseRead() { t.c.PauseRead() }

func (t wsTransport) resumeRead() { t.c.ResumeRead() }

// rejectHandler serves a refused connect in frame mode: the
// phx_connect_error message, then the close frame; whatever the client had
// already sent (its buffered joins) is ignored.
type rejectHandler struct {
	frame  []byte
	code   CloseCode
	reason string
}

func (h *rejectHandler) OnOpen(c *netpoll.Conn) {
	_ = c.Send(netpoll.OpText, h.frame)
	c.Close(int(h.code), h.reason)
}

func (h *rejectHandler) OnMessage(*netpoll.Conn, netpoll.OpCode, []byte) {}

func (h *rejectHandler) OnClose(*netpoll.Conn, int, string) {}
