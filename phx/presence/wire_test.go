package presence

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/serializer"
)

// The harness drives a Server the way clients do, over real WebSocket
// connections on loopback, using only phx's exported API: Presence is
// tested from where its users stand.

// frameCap is how many unread frames a harness holds. A test reads what it
// expects as it goes; more than this unread means a regression floods the
// socket (or a test never reads it), and the test fails.
const frameCap = 1024

// waitFor bounds each wait of the harness for a frame or a settled
// mailbox: generous, for a loaded machine under -race.
const waitFor = 30 * time.Second

// testServer is a Server listening on loopback whose room:* channels are
// served by a presenceHandler. Each harness connection gets a "conn"
// assign, under which the handler records its channel instances.
type testServer struct {
	*phx.Server
	addr    string
	handler *presenceHandler

	conns atomic.Int64
	mu    sync.Mutex
	chans map[string]*phx.Channel // "<conn>|<topic>" → latest instance
}

// listen serves srv on a loopback port until the test ends.
func listen(t testing.TB, srv *phx.Server) string {
	t.Helper()
	addr, stop := serve(t, srv)
	t.Cleanup(stop)
	return addr
}

// serve serves srv on a loopback port until stop, which closes srv.
func serve(t testing.TB, srv *phx.Server) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln, nil) }()
	return ln.Addr().String(), func() {
		_ = srv.Close()
		_ = ln.Close()
		<-served
	}
}

// connectAssigns is the Connect of test servers: user_id and conn come
// from the URL's params.
func connectAssigns(_ context.Context, info *phx.ConnectInfo) (phx.Assigns, error) {
	return phx.NewAssigns("user_id", info.Params.Get("user_id"), "conn", info.Params.Get("conn")), nil
}

// joined records c as the latest instance of its topic on its connection.
func (ts *testServer) joined(c *phx.Channel) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.chans[c.Assigns().String("conn")+"|"+c.Topic()] = c
}

// harness is one client connection.
type harness struct {
	t   testing.TB
	ts  *testServer
	id  string
	ver serializer.Version

	conn     net.Conn
	readFrom io.ReadWriter // conn, after what the handshake buffered
	frames   chan string
	full     chan struct{} // closed when a frame found frames full
	done     chan struct{} // closed when the reader has returned

	mu      sync.Mutex
	topics  map[string]bool          // topics this client sent phx_join for
	waiters map[string]chan struct{} // sync ref → closed by its reply
	byTopic map[string][]string      // topic → sync refs waiting on it
	seq     int
	dropped atomic.Int64
}

func (ts *testServer) user(t testing.TB, id string) *harness {
	return ts.userV(t, serializer.V2, id)
}

// userV connects user id with serializer version ver.
func (ts *testServer) userV(t testing.TB, ver serializer.Version, id string) *harness {
	t.Helper()
	h := ts.dial(t, ver, id)
	h.frames = make(chan string, frameCap)
	go h.read(func(f string) {
		select {
		case h.frames <- f:
		default:
			if h.dropped.Add(1) == 1 {
				close(h.full)
			}
		}
	})
	return h
}

// dial opens the connection; the caller starts the reader.
func (ts *testServer) dial(t testing.TB, ver serializer.Version, id string) *harness {
	t.Helper()
	conn := strconv.FormatInt(ts.conns.Add(1), 10)
	vsn := "2.0.0"
	if ver == serializer.V1 {
		vsn = "1.0.0"
	}
	q := url.Values{"vsn": {vsn}, "user_id": {id}, "conn": {conn}}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, br, _, err := ws.Dial(ctx, "ws://"+ts.addr+"/socket/websocket?"+q.Encode())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	var r io.Reader = c
	if br != nil {
		r = io.MultiReader(br, c)
	}
	h := &harness{t: t, ts: ts, id: conn, ver: ver, conn: c, full: make(chan struct{}),
		done: make(chan struct{}), topics: map[string]bool{}, waiters: map[string]chan struct{}{},
		byTopic: map[string][]string{}}
	rw := struct {
		io.Reader
		io.Writer
	}{r, c}
	h.readFrom = rw
	t.Cleanup(func() {
		_ = c.Close()
		<-h.done
		if n := h.dropped.Load(); n > 0 {
			t.Errorf("%d frame(s) dropped: more than %d unread", n, frameCap)
		}
	})
	return h
}

// read hands every server frame to deliver, except the replies to the
// harness's own sync events, until the connection ends.
func (h *harness) read(deliver func(string)) {
	defer close(h.done)
	for {
		data, _, err := wsutil.ReadServerData(h.readFrom)
		if err != nil {
			return
		}
		if h.control(data) {
			continue
		}
		deliver(string(data))
	}
}

// control handles a sync reply (true: not a frame of the test) and notes
// the end of a channel instance, which answers none of the syncs sent to
// its topic.
func (h *harness) control(data []byte) bool {
	isSync := bytes.Contains(data, []byte(`"sync:`))
	end := bytes.Contains(data, []byte(`"phx_close"`)) || bytes.Contains(data, []byte(`"phx_error"`))
	if !isSync && !end {
		return false
	}
	m, err := serializer.DecodeServer(h.ver, data, false)
	if err != nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if ref := string(m.Ref); m.Kind == serializer.KindReply && strings.HasPrefix(ref, `"sync:`) {
		if w := h.waiters[ref]; w != nil {
			close(w)
			delete(h.waiters, ref)
		}
		return true
	}
	if m.Event == "phx_close" || m.Event == "phx_error" {
		for _, ref := range h.byTopic[m.Topic] {
			if w := h.waiters[ref]; w != nil {
				close(w)
				delete(h.waiters, ref)
			}
		}
		delete(h.byTopic, m.Topic)
	}
	return false
}

// in sends a client text frame.
func (h *harness) in(frame string) {
	h.t.Helper()
	if m, err := serializer.Decode(h.ver, []byte(frame), false); err == nil && m.Event == "phx_join" {
		h.mu.Lock()
		h.topics[m.Topic] = true
		h.mu.Unlock()
	}
	if err := wsutil.WriteClientMessage(h.conn, ws.OpText, []byte(frame)); err != nil {
		h.t.Fatalf("send %s: %v", frame, err)
	}
}

// drop closes the connection abruptly, as a lost client does.
func (h *harness) drop() { _ = h.conn.Close() }

// lookup returns the latest channel instance of topic on this connection.
func (h *harness) lookup(topic string) *phx.Channel {
	h.t.Helper()
	h.ts.mu.Lock()
	defer h.ts.mu.Unlock()
	c := h.ts.chans[h.id+"|"+topic]
	if c == nil {
		h.t.Fatalf("no channel of %s on connection %s", topic, h.id)
	}
	return c
}

// expect reads the next frame and compares it byte for byte.
func (h *harness) expect(want string) {
	h.t.Helper()
	if got := h.next(); got != want {
		h.t.Fatalf("frame mismatch\n got: %s\nwant: %s", got, want)
	}
}

// next returns the next frame. It fails the test when none comes within
// waitFor, or once frames overflowed and every frame kept has been read.
func (h *harness) next() string {
	h.t.Helper()
	select {
	case f := <-h.frames:
		return f
	default:
	}
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	select {
	case f := <-h.frames:
		return f
	case <-h.full:
		select {
		case f := <-h.frames:
			return f
		default:
		}
		h.t.Fatalf("more than %d frames unread", frameCap)
	case <-timer.C:
		h.t.Fatalf("no frame within %v", waitFor)
	}
	return ""
}

// expectNone asserts that nothing more was written (after the mailboxes
// settle).
func (h *harness) expectNone() {
	h.t.Helper()
	h.settle()
	select {
	case f := <-h.frames:
		h.t.Fatalf("unexpected frame: %s", f)
	default:
	}
}

// drain returns every frame written so far, after the mailboxes settle.
func (h *harness) drain() []string {
	h.t.Helper()
	h.settle()
	var out []string
	for {
		select {
		case f := <-h.frames:
			out = append(out, f)
		default:
			return out
		}
	}
}

// settle waits until the mailbox of every channel this client joined has
// run everything queued so far, and every frame written before has been
// read: it sends a "sync" event to each topic and waits for its reply
// (mailboxes are FIFO and so is the connection), or for the end of the
// instance.
func (h *harness) settle() {
	h.t.Helper()
	h.mu.Lock()
	var frames []string
	var waits []chan struct{}
	for topic := range h.topics {
		h.seq++
		ref := fmt.Sprintf(`"sync:%d"`, h.seq)
		w := make(chan struct{})
		h.waiters[ref] = w
		h.byTopic[topic] = append(h.byTopic[topic], ref)
		waits = append(waits, w)
		frames = append(frames, h.encode(&serializer.Message{Kind: serializer.KindPush,
			Ref: []byte(ref), Topic: topic, Event: "sync", Payload: []byte(`{}`)}))
	}
	h.mu.Unlock()
	for _, f := range frames {
		if err := wsutil.WriteClientMessage(h.conn, ws.OpText, []byte(f)); err != nil {
			h.t.Fatalf("send sync: %v", err)
		}
	}
	timer := time.NewTimer(waitFor)
	defer timer.Stop()
	for _, w := range waits {
		select {
		case <-w:
		case <-timer.C:
			h.t.Fatalf("mailboxes did not settle within %v", waitFor)
		}
	}
}

// encode encodes a client message in the harness's version.
func (h *harness) encode(m *serializer.Message) string {
	out, _, err := serializer.EncodeClient(h.ver, nil, m)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(out)
}

// join joins topic with join_ref = ref = jr and reads the reply.
func (h *harness) join(topic, jr string) {
	h.t.Helper()
	h.in(fmt.Sprintf(`[%q,%q,%q,"phx_join",{}]`, jr, jr, topic))
	h.expect(fmt.Sprintf(`[%q,%q,%q,"phx_reply",{"response":{},"status":"ok"}]`, jr, jr, topic))
}

func bothVersions(t *testing.T, f func(t *testing.T, ver serializer.Version)) {
	for _, v := range []serializer.Version{serializer.V1, serializer.V2} {
		t.Run(fmt.Sprintf("V%d", v), func(t *testing.T) { f(t, v) })
	}
}
