package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// A LongPoll client, as phoenix.js drives the transport: a GET without a
// session token connects; an answer with status 410 opens a session whose
// token later requests carry (as the last "token" param); a poll loop
// records the messages of each GET; frames go out one per POST. Session
// tokens are never recorded: they differ on every run.

// lpConn is the LongPoll side of a client.
type lpConn struct {
	hc      *http.Client
	base    string // http://host/path?query (the connect params and vsn)
	mu      sync.Mutex
	token   string
	timeout time.Duration // bound on a connect or a POST
	cancel  context.CancelFunc
	ctx     context.Context
	done    chan struct{} // closed when the poll loop exits
}

// lpAnswer is a LongPoll JSON answer.
type lpAnswer struct {
	Status   int      `json:"status"`
	Token    string   `json:"token"`
	Messages []string `json:"messages"`
}

// withToken returns the base URL with the session token added last.
func (l *lpConn) withToken() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" {
		return l.base
	}
	return l.base + "&token=" + url.QueryEscape(l.token)
}

// do runs one request and decodes the answer; timeout 0 leaves a poll to
// the server's window.
func (l *lpConn) do(method, u string, body []byte, timeout time.Duration) (lpAnswer, error) {
	var a lpAnswer
	ctx := l.ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return a, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return a, err
	}
	if resp.StatusCode != http.StatusOK {
		return a, fmt.Errorf("HTTP %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("not a LongPoll answer: %q", b)
	}
	l.mu.Lock()
	if a.Token != "" {
		l.token = a.Token
	}
	l.mu.Unlock()
	return a, nil
}

// connectLP opens a LongPoll session; a refusal is recorded, not an error.
// It returns false when the client has no session.
func (c *client) connectLP(httpURL, query string, timeout time.Duration) bool {
	ctx, cancel := context.WithCancel(context.Background())
	c.lp = &lpConn{hc: &http.Client{Transport: &http.Transport{}}, base: httpURL,
		ctx: ctx, cancel: cancel, done: make(chan struct{}), timeout: timeout}
	l := c.lp
	what := "connect " + query + " (longpoll)"
	a, err := l.do(http.MethodGet, l.withToken(), nil, timeout)
	if err != nil {
		c.info(fmt.Sprintf("%s: failed: %v", what, errText(err)))
		c.markClosed()
		close(l.done)
		return false
	}
	c.info(fmt.Sprintf("%s: status %d", what, a.Status))
	c.record(a.Messages)
	if a.Status != http.StatusGone {
		// refused: a session-less answer (its messages say why) or a
		// status; phoenix.js polls once more with what it was given
		if a.Status == http.StatusOK {
			if a, err = l.do(http.MethodGet, l.withToken(), nil, timeout); err == nil {
				c.info(fmt.Sprintf("poll: status %d", a.Status))
				c.record(a.Messages)
			}
		}
		c.markClosed()
		close(l.done)
		return false
	}
	go c.poll()
	return true
}

// record records a LongPoll answer's messages as received text frames.
func (c *client) record(msgs []string) {
	for _, m := range msgs {
		c.frame(ws.OpText, []byte(m))
	}
}

// poll records messages until the session ends or the client stops.
func (c *client) poll() {
	l := c.lp
	defer close(l.done)
	for {
		a, err := l.do(http.MethodGet, l.withToken(), nil, 0)
		if l.ctx.Err() != nil {
			return
		}
		if err != nil {
			c.rec.add(Entry{Client: c.idx, Dir: Info, Info: "poll failed: " + errText(err)}, func() { c.closed = true })
			return
		}
		c.record(a.Messages)
		switch a.Status {
		case http.StatusOK, http.StatusNoContent:
			continue
		}
		c.rec.add(Entry{Client: c.idx, Dir: Info, Info: fmt.Sprintf("poll: status %d", a.Status)}, func() { c.closed = true })
		return
	}
}

// postLP sends one frame.
func (c *client) postLP(frame []byte) {
	a, err := c.lp.do(http.MethodPost, c.lp.withToken(), frame, c.lp.timeout)
	switch {
	case err != nil:
		c.info("send failed: " + errText(err))
	case a.Status != http.StatusOK:
		c.info(fmt.Sprintf("send: status %d", a.Status))
	}
}

// shutLP stops polling, as a phoenix.js client that closes does.
func (c *client) shutLP(timeout time.Duration) {
	l := c.lp
	l.cancel()
	select {
	case <-l.done:
	case <-time.After(timeout):
	}
	l.hc.CloseIdleConnections()
}
