package netpoll

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// httpConns tracks the plain-HTTP connections handed to net/http: each
// keeps its MaxConns slot (and per-address count) until net/http closes
// it, and Shutdown cuts their reads short.
type httpConns struct {
	mu  sync.Mutex
	set map[*httpConn]struct{}
	n   atomic.Int64
	cut atomic.Int64 // Shutdown: latest read deadline (Unix ns); 0: none
}

func (h *httpConns) add(c *httpConn) *httpConn {
	h.mu.Lock()
	if h.set == nil {
		h.set = make(map[*httpConn]struct{})
	}
	h.set[c] = struct{}{}
	h.n.Add(1)
	cut := h.cut.Load()
	h.mu.Unlock()
	if cut != 0 {
		_ = c.Conn.SetReadDeadline(time.Unix(0, cut))
	}
	return c
}

func (h *httpConns) remove(c *httpConn) {
	h.mu.Lock()
	delete(h.set, c)
	h.n.Add(-1)
	h.mu.Unlock()
}

func (h *httpConns) count() int64 { return h.n.Load() }

// cutReads holds every plain-HTTP connection's reads, now and later, to
// the deadline t: on Shutdown a request body that trickles in (or a
// keep-alive connection that sends nothing) cannot hold the drain for
// longer than that.
func (h *httpConns) cutReads(t time.Time) {
	h.mu.Lock()
	h.cut.Store(t.UnixNano())
	conns := make([]*httpConn, 0, len(h.set))
	for c := range h.set {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		_ = c.Conn.SetReadDeadline(t)
	}
}

// clampRead returns the read deadline t, capped by Shutdown's cut.
func (h *httpConns) clampRead(t time.Time) time.Time {
	if cut := h.cut.Load(); cut != 0 && (t.IsZero() || t.UnixNano() > cut) {
		return time.Unix(0, cut)
	}
	return t
}

// httpConn is a connection handed to net/http: Close gives its slot back
// exactly once, and read deadlines honour Shutdown's cut.
type httpConn struct {
	replayConn
	s         *Server
	peer      peerAddr
	ipCounted bool
	closed    atomic.Bool
}

func (c *httpConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.s.http.remove(c)
		c.s.freeSlot(c.peer, c.ipCounted)
	}
	return err
}

func (c *httpConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.s.http.clampRead(t))
}

func (c *httpConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.s.http.clampRead(t))
}

// limitBody answers 413 to a request whose declared body exceeds max and
// caps every other body with http.MaxBytesReader, so no handler can be
// made to buffer more.
func limitBody(h http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			w.Header().Set("Connection", "close")
			http.Error(w, "request body too large (limit "+strconv.FormatInt(max, 10)+" bytes)",
				http.StatusRequestEntityTooLarge)
			return
		}
		// The handler gets a shallow copy: net/http checks the original
		// request's Body to see whether the handler left a body unread, and
		// then lingers (FIN, a pause, close) so the peer reads the answer
		// instead of a reset.
		r2 := new(http.Request)
		*r2 = *r
		r2.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r2)
	})
}

// Fixed answers to connections refused at accept.
var (
	resp503 = fixedResponse(http.StatusServiceUnavailable, "too many connections\n")
	resp429 = fixedResponse(http.StatusTooManyRequests, "too many connections from your address\n")
)

func fixedResponse(status int, body string) []byte {
	return []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body)) +
		"\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" + body)
}
