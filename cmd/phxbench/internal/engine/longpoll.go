package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/serializer"
	"golang.org/x/sys/unix"
)

// LongPoll clients (Phoenix's LongPoll transport, described in README.md).
// Unlike the WebSocket clients these are not driven by the epoll loop: each
// LongPoll client has a poll goroutine (session GET, then one long-poll GET
// after another) and a send goroutine (one POST at a time, up to 100 ndjson
// lines each), over an http.Transport shared by the engine's LongPoll
// clients. Two goroutines and two HTTP connections per client, so one
// process should drive at most a few thousand LongPoll clients.
//
// The goroutines never touch engine or client state. What they receive
// (session open, frames, failures) is queued in lpShared and the engine is
// woken through an eventfd in its epoll set; the engine then feeds the
// frames to the same onMessage path the WebSocket clients use, so replies,
// deliveries, waits and statistics are handled identically. Frames the
// engine sends are handed to the client's send goroutine under its mutex.

const (
	lpMaxLines    = 100              // lines per POST, as phoenix.js
	lpPostTimeout = 20 * time.Second // phoenix.js's LongPoll timeout
	lpPollTimeout = 70 * time.Second // above the server's poll window
	lpMaxBody     = 64 << 20         // a poll answer carries all buffered frames
)

type lpEventKind uint8

const (
	lpOpen lpEventKind = iota // session created (GET answered 410 with a token)
	lpMsgs                    // a poll answered 200 with frames
	lpFail                    // the client is broken (why)
)

// lpEvent is something a LongPoll goroutine reports to the engine.
type lpEvent struct {
	l     *lpConn
	kind  lpEventKind
	msgs  []string
	why   string
	bytes int
}

// lpShared is the state the engine shares with its LongPoll goroutines.
type lpShared struct {
	efd    int // eventfd in the engine's epoll set
	client *http.Client
	tr     *http.Transport
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	q  []lpEvent
}

// lpConn is one LongPoll client's connection state. The engine owns the
// client; the goroutines read only the immutable fields and the queue.
type lpConn struct {
	c      *client // the engine's; only the engine reads it
	sh     *lpShared
	url    string // endpoint with connect params and vsn
	auth   string // X-Phoenix-AuthToken, or ""
	v1     bool   // V1 serializer: one frame per POST as application/json (pre-1.7 clients)
	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex
	queue [][]byte // frames the engine sent, not yet POSTed
	wake  chan struct{}
}

// newLPShared creates the eventfd (added to epoll) and the HTTP transport,
// sized for clients connections.
func newLPShared(ep, clients int, src [][4]byte) (*lpShared, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	var next atomic.Uint64
	dial := d.DialContext
	if len(src) > 0 { // spread the connections over the source addresses
		dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			a := src[next.Add(1)%uint64(len(src))]
			dd := *d
			dd.LocalAddr = &net.TCPAddr{IP: net.IPv4(a[0], a[1], a[2], a[3])}
			return dd.DialContext(ctx, network, addr)
		}
	}
	tr := &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        0, // no overall limit
		MaxIdleConnsPerHost: 2*clients + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	sh := &lpShared{efd: efd, tr: tr, client: &http.Client{Transport: tr}}
	sh.ctx, sh.cancel = context.WithCancel(context.Background())
	return sh, nil
}

// close stops every LongPoll goroutine, waits for them and closes the
// idle connections and the eventfd.
func (sh *lpShared) close() {
	sh.cancel()
	sh.wg.Wait()
	sh.tr.CloseIdleConnections()
	unix.Close(sh.efd)
}

// post queues ev for the engine and wakes it when the queue was empty.
func (sh *lpShared) post(ev lpEvent) {
	sh.mu.Lock()
	wake := len(sh.q) == 0
	sh.q = append(sh.q, ev)
	sh.mu.Unlock()
	if wake {
		var one = [8]byte{1}
		_, _ = unix.Write(sh.efd, one[:])
	}
}

// take returns the queued events (engine side).
func (sh *lpShared) take(buf []lpEvent) []lpEvent {
	var cnt [8]byte
	_, _ = unix.Read(sh.efd, cnt[:])
	sh.mu.Lock()
	buf = append(buf[:0], sh.q...)
	clear(sh.q)
	sh.q = sh.q[:0]
	sh.mu.Unlock()
	return buf
}

// connectLP starts a LongPoll client: its poll goroutine creates the
// session. The connect timeout and the handshake limit apply as for
// WebSocket clients.
func (e *engine) connectLP(c *client) {
	c.gen++
	e.now = nowNS()
	c.connStart = e.now
	if e.st.marks.FirstConnect == 0 {
		e.st.marks.FirstConnect = e.now
	}
	l := &lpConn{c: c, sh: e.lp, v1: c.g.gp.Vsn == serializer.V1, wake: make(chan struct{}, 1), auth: c.g.gp.Auth.Str(&c.vars),
		url: "http://" + e.p.Targets[c.ti].Host + c.g.gp.Query(e.p.Targets[c.ti].LPPath, &c.vars)}
	l.ctx, l.cancel = context.WithCancel(e.lp.ctx)
	c.lp = l
	c.state = stConnecting
	e.connecting++
	e.st.live.connecting.Add(1)
	e.addTimer(timer{at: e.now + int64(e.p.Scenario.ConnectTimeout), c: c, gen: c.gen, kind: tConnect})
	e.lp.wg.Add(1)
	go l.poll()
}

// sendLP queues a text frame for the client's send goroutine; control
// frames (close) have no LongPoll equivalent and are dropped.
func (e *engine) sendLP(c *client, payload []byte, text bool) {
	l := c.lp
	if l == nil || !text {
		return
	}
	e.st.c.FramesOut++
	e.st.c.BytesOut += int64(len(payload) + 1)
	l.mu.Lock()
	l.queue = append(l.queue, bytes.Clone(payload))
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// closeLP ends a LongPoll client: its goroutines stop, the server session
// expires on its own (LongPoll has no close message).
func (e *engine) closeLP(c *client) {
	if c.state == stConnecting || c.state == stHandshaking {
		e.connecting--
		e.st.live.connecting.Add(-1)
	}
	if c.state == stOpen {
		e.st.live.open.Add(-1)
	}
	c.lp.cancel()
	c.lp = nil
}

// onLPEvents handles what the LongPoll goroutines reported.
func (e *engine) onLPEvents() {
	e.lpEvs = e.lp.take(e.lpEvs)
	for i := range e.lpEvs {
		ev := &e.lpEvs[i]
		c := ev.l.c
		e.now = nowNS()
		if c.lp != ev.l { // closed or failed meanwhile
			continue
		}
		e.st.c.BytesIn += int64(ev.bytes)
		switch ev.kind {
		case lpOpen:
			if c.state == stConnecting {
				e.opened(c)
			}
		case lpFail:
			e.fail(c, ev.why)
		case lpMsgs:
			for _, m := range ev.msgs {
				if c.lp != ev.l {
					break
				}
				e.st.c.FramesIn++
				e.onMessage(c, []byte(m), false, nil)
			}
		}
	}
	clear(e.lpEvs)
}

// lpAnswer is the JSON body of a LongPoll answer.
type lpAnswer struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

// do sends one request and decodes the JSON answer; n is the body size.
func (l *lpConn) do(method, token string, body []byte, timeout time.Duration) (a lpAnswer, n int, err error) {
	ctx, cancel := context.WithTimeout(l.ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.url, rd)
	if err != nil {
		return a, 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		ct := "application/x-ndjson"
		if l.v1 {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("X-Phoenix-Longpoll-Token", token)
	}
	if l.auth != "" {
		req.Header.Set("X-Phoenix-AuthToken", l.auth)
	}
	resp, err := l.sh.client.Do(req)
	if err != nil {
		return a, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, lpMaxBody))
	if err != nil {
		return a, len(b), err
	}
	if resp.StatusCode != http.StatusOK {
		return a, len(b), fmt.Errorf("http_%d", resp.StatusCode)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, len(b), errors.New("bad_answer")
	}
	return a, len(b), nil
}

// lpErr names a request failure for error kinds.
func lpErr(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "eof"
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return errnoName(en)
	}
	return err.Error()
}

// poll is the poll goroutine: create the session, start the sender, then
// long-poll until the client is closed or fails.
func (l *lpConn) poll() {
	defer l.sh.wg.Done()
	a, n, err := l.do(http.MethodGet, "", nil, lpPollTimeout)
	switch {
	case l.ctx.Err() != nil:
		return
	case err != nil:
		l.sh.post(lpEvent{l: l, kind: lpFail, why: "connect:" + lpErr(err), bytes: n})
		return
	case a.Status != 410 || a.Token == "":
		l.sh.post(lpEvent{l: l, kind: lpFail, why: "connect:status_" + strconv.Itoa(a.Status), bytes: n})
		return
	}
	token := a.Token
	l.sh.wg.Add(1)
	go l.send(token)
	l.sh.post(lpEvent{l: l, kind: lpOpen, bytes: n})
	for {
		a, n, err := l.do(http.MethodGet, token, nil, lpPollTimeout)
		switch {
		case l.ctx.Err() != nil:
			return
		case err != nil:
			l.sh.post(lpEvent{l: l, kind: lpFail, why: "poll:" + lpErr(err), bytes: n})
			return
		case a.Status == 200:
			l.sh.post(lpEvent{l: l, kind: lpMsgs, msgs: a.Messages, bytes: n})
		case a.Status == 204:
		case a.Status == 410:
			l.sh.post(lpEvent{l: l, kind: lpFail, why: "session_gone", bytes: n})
			return
		default:
			l.sh.post(lpEvent{l: l, kind: lpFail, why: "poll:status_" + strconv.Itoa(a.Status), bytes: n})
			return
		}
	}
}

// send is the send goroutine: POST what the engine queued, one request at
// a time (frames stay in order), at most 100 lines each; V1 clients POST
// one JSON frame at a time, as pre-1.7 phoenix.js did.
func (l *lpConn) send(token string) {
	defer l.sh.wg.Done()
	var body []byte
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.wake:
		}
		for {
			l.mu.Lock()
			k := min(len(l.queue), lpMaxLines)
			if l.v1 { // ndjson lines not starting with '[' would be read as base64
				k = min(k, 1)
			}
			body = body[:0]
			for i, f := range l.queue[:k] {
				if i > 0 {
					body = append(body, '\n')
				}
				body = append(body, f...)
			}
			clear(l.queue[:k])
			l.queue = l.queue[k:]
			l.mu.Unlock()
			if k == 0 {
				break
			}
			a, n, err := l.do(http.MethodPost, token, body, lpPostTimeout)
			switch {
			case l.ctx.Err() != nil:
				return
			case err != nil:
				l.sh.post(lpEvent{l: l, kind: lpFail, why: "post:" + lpErr(err), bytes: n})
				return
			case a.Status == 410:
				l.sh.post(lpEvent{l: l, kind: lpFail, why: "session_gone", bytes: n})
				return
			case a.Status != 200:
				l.sh.post(lpEvent{l: l, kind: lpFail, why: "post:status_" + strconv.Itoa(a.Status), bytes: n})
				return
			}
		}
	}
}
