package phx

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/netpoll"
)

// Server is a Phoenix socket endpoint: it authenticates connects, routes
// topics to channel handlers and fans broadcasts out. It serves the
// WebSocket transport on its own epoll event loop (Serve) and is also an
// http.Handler (ServeHTTP) to mount beside an existing mux.
type Server struct {
	cfg       Config
	log       *slog.Logger
	warn      *warnLog // client-triggered warnings: cut and rate-limited
	router    router
	pubsub    PubSub
	brake     *brake
	deadlines *deadlines
	lp        *longPoll
	stats     stats
	teardowns teardowns
	// inlineBudget is how long inline channel work may run before its
	// channel moves to its mailbox (inlineBudget in mailbox.go; tests
	// raise it before the server has sockets, so that a loaded machine
	// cannot mark their fast handlers slow).
	inlineBudget time.Duration
	// teardownWait bounds a socket teardown's wait for its channels
	// (teardownWait; tests set it before the server has sockets).
	teardownWait time.Duration

	npOnce sync.Once
	np     *netpoll.Server
	npErr  error
	npLive atomic.Pointer[netpoll.Server] // np once created: readable without the Once
}

// stats are the server's running counters.
type stats struct {
	open      atomic.Int64
	accepted  atomic.Int64
	rejected  atomic.Int64
	braked    atomic.Int64
	joinLapse atomic.Int64
	dash      dashStats // the dashboard's counters (stats_dashboard.go)
}

// Stats is a snapshot of the server's counters.
type Stats struct {
	OpenSockets, Accepted, Rejected, Braked, JoinTimeouts int64
}

// NewServer builds a Server. Register channels with Channel before serving.
// It panics on an invalid Config.Origin entry (see OriginPolicy), as
// Channel does on an invalid pattern: both are programming errors.
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	if err := cfg.Origin.validate(); err != nil {
		panic(err) // a configuration error, as a bad channel pattern is
	}
	s := &Server{cfg: cfg, log: cfg.Logger, pubsub: cfg.PubSub,
		brake: newBrake(cfg.RejectBrake, cfg.BrakeEntries, cfg.BrakeAddrRejections)}
	s.teardownWait = teardownWait
	s.inlineBudget = inlineBudget
	s.warn = newWarnLog(cfg.Logger, cfg.LogValueBytes, cfg.LogWarnsPerSecond)
	s.deadlines = newDeadlines(cfg.JoinDeadline, s.joinLapsed)
	if !cfg.LongPoll.Disabled {
		s.lp = newLongPoll(cfg.LongPoll, cfg.Net.MaxFrameSize)
	}
	return s
}

// Channel routes topics matching pattern ("room:lobby" or "room:*") to h.
// Routes match in registration order. It panics on an invalid pattern, as
// http.ServeMux does, since that is a programming error.
func (s *Server) Channel(pattern string, h ChannelHandler) {
	if err := s.router.add(pattern, h); err != nil {
		panic(err)
	}
}

// PubSub returns the server's PubSub.
func (s *Server) PubSub() PubSub { return s.pubsub }

// Logger returns the server's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{OpenSockets: s.stats.open.Load(), Accepted: s.stats.accepted.Load(),
		Rejected: s.stats.rejected.Load(), Braked: s.stats.braked.Load(),
		JoinTimeouts: s.stats.joinLapse.Load()}
}

// NetStats returns the event loop's counters (zero before the event loop
// starts: Serve, or the first WebSocket upgrade through ServeHTTP).
func (s *Server) NetStats() NetStats {
	np := s.npLive.Load()
	if np == nil {
		return NetStats{}
	}
	return netStats(np.Stats())
}

// LongPollSessions counts live LongPoll sessions.
func (s *Server) LongPollSessions() int {
	if s.lp == nil {
		return 0
	}
	return s.lp.count()
}

// Broadcast publishes event with payload to every subscriber of topic on
// every node. JSON payloads must be objects; use Binary for bytes.
func (s *Server) Broadcast(topic, event string, payload any) error {
	b, err := NewBroadcast(topic, event, payload)
	if err != nil {
		return err
	}
	return s.pubsub.Broadcast(b)
}

func (s *Server) netpoll() (*netpoll.Server, error) {
	s.npOnce.Do(func() {
		// LongPoll answers its own oversized POSTs (413 and the session
		// closed, as a WebSocket closes with 1009): the event loop's body
		// cap, a safety net for every plain-HTTP route, must let them reach
		// it, so it is raised just above LongPoll's (both default to 1 MiB).
		nc := s.cfg.Net.netpoll(s.log)
		nc.Deflate = s.cfg.Compress.netpoll()
		if s.lp != nil && nc.MaxBodyBytes <= s.lp.cfg.MaxBody {
			nc.MaxBodyBytes = s.lp.cfg.MaxBody + 1
		}
		s.np, s.npErr = netpoll.New(nc)
		if s.npErr == nil {
			s.npLive.Store(s.np)
		}
	})
	return s.np, s.npErr
}

// Serve accepts connections on ln: WebSocket upgrades on the socket path
// run on the event loop; every other request goes to fallback (which may
// be nil; LongPoll and unknown paths under the socket path are served by
// the Server itself).
func (s *Server) Serve(ln net.Listener, fallback http.Handler) error {
	np, err := s.netpoll()
	if err != nil {
		return err
	}
	return np.Serve(ln, (*upgrader)(s), s.withFallback(fallback))
}

// withFallback serves the socket path itself and the rest with next.
func (s *Server) withFallback(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if next == nil || strings.HasPrefix(r.URL.Path, s.cfg.Path+"/") {
			s.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP serves the socket's HTTP endpoints: the WebSocket upgrade
// (hijacked into the event loop) and LongPoll.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case s.cfg.Path + "/websocket":
		if r.Method != http.MethodGet {
			http.Error(w, "WebSocket endpoint accepts GET only", http.StatusBadRequest)
			return
		}
		np, err := s.netpoll()
		if err != nil {
			http.Error(w, "event loop unavailable", http.StatusServiceUnavailable)
			return
		}
		np.UpgradeHTTP(w, r, (*upgrader)(s))
	case s.cfg.Path + "/longpoll":
		if s.lp == nil {
			http.NotFound(w, r)
			return
		}
		s.serveLongPoll(w, r)
	default:
		http.NotFound(w, r)
	}
}

// Shutdown stops accepting and drains open sockets with
// CloseServiceRestart (1012) in batches, as Phoenix does, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.warn.close()
	defer s.deadlines.close()
	if s.lp != nil {
		// LongPoll sessions end first: their held polls and any POST
		// waiting for inbound capacity return at once, so the event loop's
		// HTTP drain below does not wait for them.
		s.lp.shutdown()
	}
	np, err := s.netpoll() // the Once orders this after a concurrent Serve's start
	if err != nil {
		return err
	}
	if err := np.Shutdown(ctx, int(CloseServiceRestart), "", s.cfg.DrainBatch, s.cfg.DrainInterval); err != nil {
		return err
	}
	// Every socket is closed; wait for their teardowns, so that every
	// channel's Terminate and OnTerminate hooks (Presence's leaves) have run
	// when Shutdown returns.
	return s.teardowns.wait(ctx)
}

// Close drops every connection at once.
func (s *Server) Close() error {
	defer s.warn.close()
	defer s.deadlines.close()
	if s.lp != nil {
		defer s.lp.shutdown()
	}
	np, err := s.netpoll()
	if err != nil {
		return err
	}
	return np.Close()
}

// joinLapsed closes a socket that joined nothing in time.
func (s *Server) joinLapsed(sock *Socket) {
	if sock.joined.Load() {
		return
	}
	s.stats.joinLapse.Add(1)
	s.warn.Info("join deadline lapsed", "socket", sock.id, "remote", peerString(sock.remote))
	ce := &ConnectError{Code: CloseJoinTimeout, Reason: "join_timeout", Payload: Reason("join_timeout")}
	frame, err := connectErrorFrame(sock.ver, ce)
	if err == nil {
		_ = sock.tr.send(false, frame)
	}
	sock.tr.close(ce.Code, ce.Reason)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (s *Server) String() string { return fmt.Sprintf("phx.Server(%s)", s.cfg.Path) }
