package phx

import (
	"context"
	"sync"
	"time"
)

// LongPollConfig configures the LongPoll transport (PROTOCOL §5), served at
// Config.Path+"/longpoll" by ServeHTTP. The zero value enables it with
// Phoenix's timings.
type LongPollConfig struct {
	// Disabled turns the transport off (requests get 404).
	Disabled bool
	// Window is how long a poll waits for messages before answering 204
	// (default 10s, as Phoenix).
	Window time.Duration
	// Idle ends a session that has not polled for this long (default 15s,
	// Phoenix's 1.5 × window); its channels terminate.
	Idle time.Duration
	// MaxBuffer bounds the bytes queued for a session between polls
	// (default 4 MiB); a client that lets it fill is dropped as a slow
	// consumer, as a WebSocket would be.
	MaxBuffer int
	// Secret signs session tokens (default: random per process). Set the
	// same secret on every node behind a load balancer without stickiness
	// so that forged or foreign tokens are told apart from expired ones.
	Secret []byte
}

func (c LongPollConfig) withDefaults() LongPollConfig {
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = c.Window * 3 / 2
	}
	if c.MaxBuffer <= 0 {
		c.MaxBuffer = 4 << 20
	}
	return c
}

// rejectDelay is the least time between a refused client's poll arriving
// and its 403: phoenix.js delivers LongPoll messages on a zero-delay timer
// that the 403 cancels, so an instant 403 would lose the
// phx_connect_error message delivered just before. phoenix.js ≥ 1.8.2
// cancels them on a 410 for a lost session too, so the last messages of a
// session that ended (a kick_me reply, a join_timeout message) get the same
// margin before the 410 that follows them.
const rejectDelay = 100 * time.Millisecond

// rejectTokenTTL is how long a reject token is honoured.
const rejectTokenTTL = time.Minute

// lpSession is one LongPoll "connection": a Socket whose frames wait in a
// buffer until the client's next poll collects them.
type lpSession struct {
	id   string
	srv  *Server
	sock *Socket

	postMu sync.Mutex // POSTs of one session are handled one at a time

	mu       sync.Mutex
	buf      []string
	bufBytes int
	notify   chan struct{} // closed when messages arrive or the session ends
	lastPoll time.Time
	lastSent time.Time // when a poll last returned messages
	polling  int
	closed   bool
}

// send implements transport: queue a text frame for the next poll.
func (ss *lpSession) send(binary bool, payload []byte) error {
	if binary {
		ss.srv.log.Warn("longpoll cannot carry binary frames: dropped", "socket", ss.sock.id)
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
	ss.wakeLocked()
	ss.mu.Unlock()
	if over {
		ss.srv.log.Warn("longpoll session over its buffer: slow consumer", "socket", ss.sock.id)
		ss.close(1008, "slow consumer")
		return errSlowLongPoll
	}
	return nil
}

// sendReply implements transport: a reply waits for the next poll too.
func (ss *lpSession) sendReply(binary bool, payload []byte) error { return ss.send(binary, payload) }

// close implements transport: end the session. Frames already queued stay
// for one more poll (so a join_timeout message still reaches the client),
// and a session that has just delivered messages stays until the next poll
// (see rejectDelay); the sweeper removes it if that poll never comes.
func (ss *lpSession) close(code int, reason string) {
	ss.mu.Lock()
	if ss.closed {
		ss.mu.Unlock()
		return
	}
	ss.closed = true
	ss.wakeLocked()
	done := len(ss.buf) == 0 && time.Since(ss.lastSent) >= rejectDelay
	ss.mu.Unlock()
	if done {
		ss.srv.lp.remove(ss)
	}
	go ss.sock.closedByTransport(code, reason)
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

// poll waits up to window for messages. gone reports a closed session with
// nothing left to deliver.
func (ss *lpSession) poll(ctx context.Context, window time.Duration) (msgs []string, gone bool) {
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
	if len(msgs) > 0 {
		ss.lastSent = time.Now()
	}
	gone = ss.closed && len(msgs) == 0
	ss.mu.Unlock()
	if gone {
		ss.srv.lp.remove(ss)
	}
	return msgs, gone
}

// goneWait is how long a poll that found the session gone waits before its
// 410: the rest of rejectDelay since the last delivery.
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

	mu       sync.Mutex
	sessions map[string]*lpSession
}

func newLongPoll(cfg LongPollConfig) *longPoll {
	cfg = cfg.withDefaults()
	lp := &longPoll{cfg: cfg, tokens: newTokenSigner(cfg.Secret),
		sessions: make(map[string]*lpSession)}
	lp.sweep = newSweeper(min(max(cfg.Idle/4, 10*time.Millisecond), time.Second), lp.expire)
	return lp
}

func (lp *longPoll) add(ss *lpSession) {
	lp.mu.Lock()
	lp.sessions[ss.id] = ss
	lp.mu.Unlock()
	lp.sweep.wake()
}

func (lp *longPoll) get(id string) *lpSession {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return lp.sessions[id]
}

func (lp *longPoll) remove(ss *lpSession) {
	lp.mu.Lock()
	if lp.sessions[ss.id] == ss {
		delete(lp.sessions, ss.id)
	}
	lp.mu.Unlock()
}

func (lp *longPoll) count() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.sessions)
}

// expire ends sessions idle for longer than cfg.Idle; false once none are
// left.
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
		ss.close(1001, "session expired")
	}
	return more
}

// shutdown ends every session and the sweeper.
func (lp *longPoll) shutdown() {
	lp.sweep.close()
	lp.mu.Lock()
	all := make([]*lpSession, 0, len(lp.sessions))
	for _, ss := range lp.sessions {
		all = append(all, ss)
	}
	lp.mu.Unlock()
	for _, ss := range all {
		ss.close(1012, "")
		lp.remove(ss)
	}
}
