package phx

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/netpoll"
)

// LongPollConfig configures the LongPoll transport (phoenix.js's HTTP
// long-polling fallback), served at
// Config.Path+"/longpoll" by ServeHTTP. The zero value enables it with
// Phoenix's timings.
type LongPollConfig struct {
	// Disabled turns the transport off (requests get 404).
	Disabled bool
	// Window is how long a poll waits for messages before answering 204
	// (default 10s, as Phoenix).
	Window time.Duration
	// Idle ends a session that has not polled for this long (default 15s,
	// Phoenix's 1.5 × window); its channels terminate. A poll that comes
	// back later (a tab that slept) gets {"status":403}, as from Phoenix:
	// phoenix.js reports an error, reconnects and rejoins its channels.
	Idle time.Duration
	// MaxBuffer bounds the bytes queued for a session between polls
	// (default 4 MiB, as a WebSocket's write queue); a client that lets it
	// fill is dropped as a slow consumer, as a WebSocket would be: the
	// queue is discarded and its next poll gets 403.
	MaxBuffer int
	// Secret signs session tokens (default: random per process). A poll
	// with a token it signed whose session is gone gets {"status":403}
	// (the client reconnects); one with any other token runs connect, as
	// a first poll. Set the same secret on every node behind a load
	// balancer without stickiness, and across restarts, so that a client
	// of another node or of the previous process is told its session is
	// gone rather than handed a new one with no channels.
	Secret []byte

	// Limits against hostile clients. Every session also counts toward
	// Config.Net.MaxConns once the server's event loop exists (Serve, or a
	// WebSocket upgrade through ServeHTTP), so WebSockets and LongPoll
	// sessions share one connection limit, and toward
	// Config.Net.MaxConnsPerIP for its client's address (IPv6: its /64)
	// when that is set, with the address's own connections: a session
	// costs its client no file descriptor, so without it one client
	// looping on session-creating GETs could hold every place for Idle.
	// (A browser on LongPoll holds one session and one or two keep-alive
	// connections.) The address is the request's RemoteAddr, as for a
	// WebSocket: behind a proxy, the proxy's. MaxSessions bounds sessions
	// even when the Server is mounted as an http.Handler and never serves
	// a WebSocket.

	// MaxSessions bounds the LongPoll sessions held at once (default
	// 10,000), counting a session the server has ended until its client
	// has been told (its next poll) or Idle has passed. A session-creating
	// GET over this limit, Config.Net.MaxConns or Config.Net.MaxConnsPerIP
	// is answered HTTP 503
	// with Retry-After and an empty body, before Connect runs: phoenix.js
	// then reports an error, closes (1011) and retries with its growing
	// backoff.
	MaxSessions int
	// MaxBody bounds one POST body (default Config.Net.MaxFrameSize, the
	// WebSocket message limit: 1 MiB). A larger body is answered HTTP 413
	// {"status":413} without being read (as soon as its Content-Length
	// shows it, else once MaxBody bytes are in) and its session is closed,
	// as an oversized WebSocket message closes its socket (1009). Phoenix
	// allows about 8 MB.
	MaxBody int64
	// BodyBudget bounds the bytes of all POST bodies being read at once,
	// across sessions (default 32 MiB, at least MaxBody). A body reserves
	// it as its bytes arrive (in chunks of 4 to 64 KiB, each as large as
	// what came before it), so a client trickling a large body in holds
	// about what it has sent, not its declared length. The reservation is
	// given back once the body is read, before its frames wait for their
	// session's turn and inbound capacity (Config.MaxInbound): a session
	// whose channels are slow keeps its own POSTs waiting, each with at
	// most MaxBody, not every other client's. A POST
	// whose next chunk does not fit is answered HTTP 503 {"status":503}
	// with Retry-After and Connection: close, the rest of its body unread,
	// and its session stays open; phoenix.js reports an error and
	// reconnects.
	BodyBudget int64
}

func (c LongPollConfig) withDefaults(maxFrame int64) LongPollConfig {
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = c.Window * 3 / 2
	}
	if c.MaxBuffer <= 0 {
		c.MaxBuffer = 4 << 20
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 10_000
	}
	if c.MaxBody <= 0 {
		c.MaxBody = maxFrame
	}
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.BodyBudget <= 0 {
		c.BodyBudget = 32 << 20
	}
	c.BodyBudget = max(c.BodyBudget, c.MaxBody)
	return c
}

// rejectDelay is the least time between a refused client's poll arriving
// and its 403: phoenix.js delivers LongPoll messages on a zero-delay timer
// that the 403 cancels, so an instant 403 would lose the
// phx_connect_error message delivered just before. The last messages of a
// session the server ended (a kick_me reply, a join_timeout message) get
// the same margin before the 403 that follows them.
const rejectDelay = 100 * time.Millisecond

// rejectTokenTTL is how long a reject token is honoured.
const rejectTokenTTL = time.Minute

// lpRetryAfter is the Retry-After (seconds) of a session refused at the
// limits: phoenix.js's longest reconnect backoff.
const lpRetryAfter = "5"

// lpEnd says how a poll found its session.
type lpEnd int

const (
	lpLive  lpEnd = iota // open: answer 200 or 204 with the session token
	lpEnded              // ended by the server or expired: the client must learn it (403)
)

// lpSession is one LongPoll "connection": a Socket whose frames wait in a
// buffer until the client's next poll collects them.
type lpSession struct {
	id   string
	srv  *Server
	sock *Socket
	slot *netpoll.Server // whose connection slot the session holds, if any
	peer net.Addr        // the client the slot is counted for (MaxConnsPerIP)
	// released guards the one release of the session's places (the
	// MaxSessions count and slot).
	released atomic.Bool

	postMu sync.Mutex // POSTs of one session are handled one at a time

	mu       sync.Mutex
	buf      []string
	bufBytes int
	notify   chan struct{} // closed when messages arrive or the session ends
	lastPoll time.Time
	lastSent time.Time // when a poll last returned messages
	polling  int
	closed   bool
	done     chan struct{} // closed when the session ends: wakes a waiting POST
}

// send implements transport: queue a text frame for the next poll.
func (ss *lpSession) send(binary bool, payload []byte) error {
	if binary {
		ss.srv.warn.Warn("longpoll cannot carry binary frames: dropped", "socket", ss.sock.id)
		return errLongPollBinary
	}
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return ErrSocketClosed
	}
	ss.buf = append(ss.buf, string(payload))
	ss.bufBytes += len(payload)
	over := ss.bufBytes > ss.srv.lp.cfg.MaxBuffer
	if over {
		// the client is dropped: what it did not collect is discarded at
		// once, not kept for a poll that may never come
		ss.buf, ss.bufBytes = nil, 0
	}
	ss.wakeLocked()
	ss.mu.Unlock()
	if over {
		ss.srv.warn.Warn("longpoll session over its buffer: slow consumer", "socket", ss.sock.id)
		ss.close(ClosePolicyViolation, "slow consumer")
		return ErrSlowConsumer
	}
	return nil
}

// sendReply implements transport: a reply waits for the next poll too.
func (ss *lpSession) sendReply(binary bool, payload []byte) error { return ss.send(binary, payload) }

// close implements transport: end the session. The session stays (and
// keeps its places) until a poll has told the client, as real Phoenix's
// {"status":403} does for a killed session: frames already queued go out
// with a reject token (so a join_timeout message still reaches the client)
// and the poll after them gets 403, or a poll finding nothing queued gets
// 403 at once. The sweeper removes it if that poll never comes.
func (ss *lpSession) close(code CloseCode, reason string) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	ss.wakeLocked()
	close(ss.done)
	ss.mu.Unlock()
	sock := ss.sock
	sock.srv.teardowns.start(func() { sock.closedByTransport(code, reason) })
}

func (ss *lpSession) name() string { return "longpoll" }

func (ss *lpSession) isClosed() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closed
}

func (ss *lpSession) wakeLocked() {
	if ss.notify != nil {
		close(ss.notify)
		ss.notify = nil
	}
}

// poll waits up to window for messages. Unless the session is live, the
// poll removes it: an ended session's msgs are its last.
func (ss *lpSession) poll(ctx context.Context, window time.Duration) (msgs []string, end lpEnd) {
	ss.mu.Lock()
	ss.polling++
	ss.lastPoll = time.Now()
	defer func() {
		ss.mu.Lock()
		ss.polling--
		ss.lastPoll = time.Now()
		ss.mu.Unlock()
	}()
	if len(ss.buf) == 0 && !ss.closed {
		if ss.notify == nil {
			ss.notify = make(chan struct{})
		}
		wait := ss.notify
		ss.mu.Unlock()
		t := time.NewTimer(window)
		select {
		case <-wait:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		ss.mu.Lock()
	}
	msgs, ss.buf, ss.bufBytes = ss.buf, nil, 0
	if ss.closed {
		end = lpEnded
	}
	if len(msgs) > 0 {
		ss.lastSent = time.Now()
	}
	ss.mu.Unlock()
	if end != lpLive {
		ss.srv.lp.remove(ss)
	}
	return msgs, end
}

// goneWait is how long a poll that found the session ended with nothing to
// deliver waits before its 403: the rest of rejectDelay since the last
// delivery.
func (ss *lpSession) goneWait() time.Duration {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return rejectDelay - time.Since(ss.lastSent)
}

// idleSince reports whether the session has not polled since t.
func (ss *lpSession) idleSince(t time.Time) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.polling == 0 && ss.lastPoll.Before(t)
}

// longPoll holds the sessions of a Server and expires idle ones with one
// sweeper that runs only while sessions exist.
type longPoll struct {
	cfg    LongPollConfig
	tokens *tokenSigner
	sweep  *sweeper

	places   atomic.Int64 // sessions admitted and not yet released (≤ MaxSessions)
	bodies   atomic.Int64 // POST body bytes being read or handled (≤ BodyBudget)
	refused  atomic.Int64 // sessions and POSTs refused at the limits, since the last warning
	lastWarn atomic.Int64 // unix ns of the last limit warning

	mu       sync.Mutex
	sessions map[string]*lpSession
	stopped  bool // shutdown: no new sessions
}

func newLongPoll(cfg LongPollConfig, maxFrame int64) *longPoll {
	cfg = cfg.withDefaults(maxFrame)
	lp := &longPoll{cfg: cfg, tokens: newTokenSigner(cfg.Secret),
		sessions: make(map[string]*lpSession)}
	lp.sweep = newSweeper(min(max(cfg.Idle/4, 10*time.Millisecond), time.Second), lp.expire)
	return lp
}

// eventLoop returns the server's event loop if it exists, without creating
// it (a Server mounted as an http.Handler may never need one).
func (s *Server) eventLoop() *netpoll.Server { return s.npLive.Load() }

// admit takes the places of a new session of the client at peer: one of
// MaxSessions and, when the event loop exists, one of its connection
// slots, counted toward Config.Net.MaxConnsPerIP for peer's address too
// (returned, to be released with the session). ok is false, nothing
// taken, at any of these limits or after shutdown.
func (lp *longPoll) admit(np *netpoll.Server, peer net.Addr) (slot *netpoll.Server, ok bool) {
	lp.mu.Lock()
	stopped := lp.stopped
	lp.mu.Unlock()
	if stopped {
		return nil, false
	}
	if lp.places.Add(1) > int64(lp.cfg.MaxSessions) {
		lp.places.Add(-1)
		return nil, false
	}
	if np != nil && !np.AcquireSlotFor(peer) {
		lp.places.Add(-1)
		return nil, false
	}
	return np, true
}

// unadmit gives back what admit took, for a session that never started.
func (lp *longPoll) unadmit(slot *netpoll.Server, peer net.Addr) {
	lp.places.Add(-1)
	if slot != nil {
		slot.ReleaseSlotFor(peer)
	}
}

// release gives back a session's places, once, when it leaves the map.
func (lp *longPoll) release(ss *lpSession) {
	if !ss.released.Swap(true) {
		lp.unadmit(ss.slot, ss.peer)
	}
}

// add makes ss findable; false (ss not added) after shutdown.
func (lp *longPoll) add(ss *lpSession) bool {
	lp.mu.Lock()
	if lp.stopped {
		lp.mu.Unlock()
		return false
	}
	lp.sessions[ss.id] = ss
	lp.mu.Unlock()
	lp.sweep.wake()
	return true
}

func (lp *longPoll) get(id string) *lpSession {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.sessions[id]
}

// remove takes ss out of the map and releases its places.
func (lp *longPoll) remove(ss *lpSession) {
	lp.mu.Lock()
	found := lp.sessions[ss.id] == ss
	if found {
		delete(lp.sessions, ss.id)
	}
	lp.mu.Unlock()
	if found {
		lp.release(ss)
	}
}

func (lp *longPoll) count() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.sessions)
}

// takeBody reserves n bytes of BodyBudget; false when they do not fit.
func (lp *longPoll) takeBody(n int64) bool {
	if lp.bodies.Add(n) > lp.cfg.BodyBudget {
		lp.bodies.Add(-n)
		return false
	}
	return true
}

func (lp *longPoll) giveBody(n int64) { lp.bodies.Add(-n) }

// refusedAtLimit counts a refusal and says whether to log it: at most one
// warning a second, carrying the count since the previous one, so a flood
// does not turn into a flood of log lines.
func (lp *longPoll) refusedAtLimit(now time.Time) (n int64, warn bool) {
	lp.refused.Add(1)
	last := lp.lastWarn.Load()
	if now.UnixNano()-last < int64(time.Second) || !lp.lastWarn.CompareAndSwap(last, now.UnixNano()) {
		return 0, false
	}
	return lp.refused.Swap(0), true
}

// expire ends sessions idle for longer than cfg.Idle; false once none are
// left. An expired session leaves the map at once (nothing is kept for a
// client that may never come back); a poll that comes back with its token
// gets 403, as any poll naming a session that is gone.
func (lp *longPoll) expire(now time.Time) bool {
	var idle []*lpSession
	lp.mu.Lock()
	for _, ss := range lp.sessions {
		if ss.idleSince(now.Add(-lp.cfg.Idle)) {
			idle = append(idle, ss)
			delete(lp.sessions, ss.id)
		}
	}
	more := len(lp.sessions) > 0
	lp.mu.Unlock()
	for _, ss := range idle {
		ss.close(CloseGoingAway, "session expired")
		lp.release(ss)
	}
	return more
}

// shutdown ends every session and the sweeper, and refuses new sessions.
func (lp *longPoll) shutdown() {
	lp.sweep.close()
	lp.mu.Lock()
	lp.stopped = true
	all := make([]*lpSession, 0, len(lp.sessions))
	for _, ss := range lp.sessions {
		all = append(all, ss)
	}
	lp.mu.Unlock()
	for _, ss := range all {
		ss.close(CloseServiceRestart, "")
		lp.remove(ss)
	}
}
