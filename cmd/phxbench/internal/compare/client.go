package compare

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/serializer"
)

// recorder collects one side's transcript. Every client's reader goroutine
// adds to the step the driver began last; the driver waits on changed for
// replies, counts and quiet periods.
type recorder struct {
	mu      sync.Mutex
	t       Transcript
	stopped bool
	muted   map[int]bool  // clients whose entries are not recorded
	changed chan struct{} // one pending signal: something was added
}

func newRecorder(url string) *recorder {
	return &recorder{t: Transcript{URL: url}, changed: make(chan struct{}, 1), muted: map[int]bool{}}
}

// begin starts a step.
func (r *recorder) begin(title string) {
	r.mu.Lock()
	r.t.Steps = append(r.t.Steps, Step{Title: title})
	r.mu.Unlock()
}

// add records an entry in the current step; f, when not nil, updates the
// client's state under the same lock.
func (r *recorder) add(e Entry, f func()) {
	r.mu.Lock()
	if !r.stopped && !r.muted[e.Client] && len(r.t.Steps) > 0 {
		st := &r.t.Steps[len(r.t.Steps)-1]
		st.Entries = append(st.Entries, e)
	}
	if f != nil {
		f()
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitUntil waits until cond (called under the lock) holds, or timeout.
func (r *recorder) waitUntil(cond func() bool, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			r.mu.Lock()
			defer r.mu.Unlock()
			return cond()
		}
	}
}

// quiet waits until nothing was recorded for d, or for at most limit.
func (r *recorder) quiet(d, limit time.Duration) {
	end := time.NewTimer(limit)
	defer end.Stop()
	idle := time.NewTimer(d)
	defer idle.Stop()
	for {
		select {
		case <-r.changed:
			idle.Reset(d)
		case <-idle.C:
			return
		case <-end.C:
			return
		}
	}
}

// mute stops recording client c's own entries.
func (r *recorder) mute(c int) {
	r.mu.Lock()
	r.muted[c] = true
	r.mu.Unlock()
}

// stop makes later entries go nowhere and returns the transcript.
func (r *recorder) stop() *Transcript {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	return &r.t
}

// client is one recording WebSocket client. Fields below mu are guarded by
// the recorder's lock.
type client struct {
	idx  int
	rec  *recorder
	vsn  serializer.Version
	conn net.Conn
	lp   *lpConn // LongPoll instead of conn
	wmu  sync.Mutex
	done chan struct{} // closed when the reader exits
	ref  uint64

	// guarded by rec.mu
	closed  bool
	replies map[string]bool // refs (raw JSON) answered
	counts  map[[2]string]int
}

// connect dials and upgrades; a refused upgrade is recorded, not an error.
// It returns false when the client has no open socket.
func (c *client) connect(dialURL, query, auth string, timeout time.Duration) bool {
	var status int
	var body string
	d := ws.Dialer{Timeout: timeout, OnStatusError: func(s int, _ []byte, resp io.Reader) {
		status = s
		body = readHTTPBody(resp)
	}}
	if auth != "" {
		d.Protocols = []string{"phoenix", "base64url.bearer.phx." + base64.RawStdEncoding.EncodeToString([]byte(auth))}
	}
	what := "connect " + query
	if auth != "" {
		what += " auth_token=" + auth
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, br, _, err := d.Dial(ctx, dialURL)
	switch {
	case err != nil && status != 0:
		c.info(strings.TrimSpace(fmt.Sprintf("%s: HTTP %d %s", what, status, body)))
		c.markClosed()
		return false
	case err != nil:
		c.info(fmt.Sprintf("%s: failed: %v", what, errText(err)))
		c.markClosed()
		return false
	}
	c.conn = conn
	c.info(what + ": open (101)")
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	go c.read(r)
	return true
}

// readHTTPBody returns a refused upgrade's body (its first 512 bytes).
func readHTTPBody(resp io.Reader) string {
	br := bufio.NewReader(resp)
	n := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ""
		}
		line = strings.TrimSpace(line)
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	buf := make([]byte, min(max(n, 0), 512))
	k, _ := io.ReadFull(br, buf)
	return strings.TrimSpace(string(buf[:k]))
}

// errText keeps an error message free of addresses and ports that differ
// between the two sides.
func errText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func (c *client) info(s string) { c.rec.add(Entry{Client: c.idx, Dir: Info, Info: s}, nil) }

func (c *client) markClosed() {
	c.rec.mu.Lock()
	c.closed = true
	c.rec.mu.Unlock()
}

// read records the server's frames until the connection ends.
func (c *client) read(r io.Reader) {
	defer close(c.done)
	defer c.conn.Close()
	var frag []byte
	var fragOp ws.OpCode
	for {
		f, err := ws.ReadFrame(r)
		if err != nil {
			c.rec.add(Entry{Client: c.idx, Dir: Info, Info: "connection ended without a close frame"}, func() { c.closed = true })
			return
		}
		switch op := f.Header.OpCode; {
		case op == ws.OpClose:
			code, reason := ws.ParseCloseFrameData(f.Payload)
			c.rec.add(Entry{Client: c.idx, Dir: Info, Info: fmt.Sprintf("close %d %q", code, reason)}, func() { c.closed = true })
			c.write(ws.OpClose, ws.NewCloseFrameBody(code, ""))
			return
		case op == ws.OpPing:
			c.write(ws.OpPong, f.Payload)
		case op == ws.OpPong:
		case op == ws.OpContinuation || !f.Header.Fin:
			if op != ws.OpContinuation {
				fragOp, frag = op, nil
			}
			frag = append(frag, f.Payload...)
			if f.Header.Fin {
				c.frame(fragOp, frag)
			}
		default:
			c.frame(op, f.Payload)
		}
	}
}

// frame records one data message.
func (c *client) frame(op ws.OpCode, data []byte) {
	m, err := serializer.DecodeServer(c.vsn, data, op == ws.OpBinary)
	var msg Msg
	if err == nil {
		msg, err = msgFromServer(&m)
	}
	if err != nil {
		c.info(fmt.Sprintf("undecodable frame (%v): %q", err, data))
		return
	}
	c.rec.add(Entry{Client: c.idx, Dir: Recv, Msg: msg}, func() {
		if msg.Event == serializer.EventReply {
			c.replies[encodeJSON(msg.Ref)] = true
			return
		}
		c.counts[[2]string{msg.Topic, msg.Event}]++
	})
}

// write sends one frame; errors show up as the reader's end.
func (c *client) write(op ws.OpCode, p []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_ = wsutil.WriteClientMessage(c.conn, op, p)
}

// nextRef returns the client's next ref, counting from 1 as phoenix.js does.
func (c *client) nextRef() string {
	c.ref++
	return strconv.FormatUint(c.ref, 10)
}

// send records and sends a message with ref; joinRef is a string or nil.
func (c *client) send(joinRef any, ref, topic, event string, payload []byte, binary bool) error {
	m := serializer.Message{Kind: serializer.KindPush, Ref: []byte(strconv.Quote(ref)), Topic: topic, Event: event, Payload: payload, Binary: binary}
	if jr, ok := joinRef.(string); ok {
		m.JoinRef = []byte(strconv.Quote(jr))
	}
	frame, isBin, err := serializer.EncodeClient(c.vsn, nil, &m)
	if err != nil {
		return err
	}
	rec := Msg{JoinRef: joinRef, Ref: ref, Topic: topic, Event: event, Binary: binary}
	if binary {
		rec.Payload = binaryText(payload)
	} else if rec.Payload, err = decodeJSON(payload); err != nil {
		return err
	}
	c.rec.add(Entry{Client: c.idx, Dir: Send, Msg: rec}, nil)
	if c.lp != nil {
		c.postLP(frame)
		return nil
	}
	op := ws.OpText
	if isBin {
		op = ws.OpBinary
	}
	c.write(op, frame)
	return nil
}

// shut closes the socket (sending a close frame first) and waits for the
// reader, at most timeout.
func (c *client) shut(timeout time.Duration) {
	if c.lp != nil {
		c.shutLP(timeout)
		return
	}
	if c.conn == nil {
		return
	}
	c.write(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.conn.Close()
		<-c.done
	}
}
