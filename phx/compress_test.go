package phx

import (
	"bytes"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/netpoll"
	"github.com/phxgo/phxgo/serializer"
)

// zTransport is a countingTransport that negotiated compression: it counts
// the compressed frames apart.
type zTransport struct {
	countingTransport
	on         bool
	keep       bool // keep the last compressed frame (last)
	compressed atomic.Int64
	last       atomic.Pointer[[]byte]
}

func (z *zTransport) compressing() bool { return z.on }

// send and sendReply count like countingTransport's, without its scan.
func (z *zTransport) send(_ bool, p []byte) error {
	z.frames.Add(1)
	z.bytes.Add(int64(len(p)))
	return nil
}

func (z *zTransport) sendReply(b bool, p []byte) error { return z.send(b, p) }

func (z *zTransport) sendCompressed(_ bool, p []byte) error {
	z.compressed.Add(1)
	z.bytes.Add(int64(len(p)))
	if z.keep {
		q := p // a copy of the header: &p would move p to the heap on every call
		z.last.Store(&q)
	}
	return nil
}

// countCompressions makes compressFrame count its calls for one test.
func countCompressions(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	orig := compressFrame
	compressFrame = func(p []byte, level int) []byte { n.Add(1); return orig(p, level) }
	t.Cleanup(func() { compressFrame = orig })
	return &n
}

func inflateFrame(t testing.TB, p []byte) []byte {
	t.Helper()
	r := flate.NewReader(io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff})))
	out, err := io.ReadAll(r)
	if err != nil && err != io.ErrUnexpectedEOF {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// A broadcast to 1,000 compressing subscribers is compressed once per
// serializer version; sockets that did not negotiate get the plain frame;
// a frame under MinSize is never compressed.
func TestCompressBroadcastOncePerFormat(t *testing.T) {
	n := countCompressions(t)
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1, LongPoll: LongPollConfig{Disabled: true},
		Compress: CompressConfig{Enabled: true}})
	defer srv.Close()
	srv.Channel("bench:*", &testChannel{})
	info := &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
	const subs, plain = 1000, 10
	trs := make([]*zTransport, subs+plain)
	for i := range trs {
		ver, join := serializer.V2, `["1","1","bench:x","phx_join",{}]`
		if i%2 == 1 {
			ver, join = serializer.V1, `{"topic":"bench:x","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`
		}
		sock := srv.newSocket(info, ver, NewAssigns("user_id", fmt.Sprint(i)))
		trs[i] = &zTransport{on: i < subs, keep: i < 2}
		srv.opened(sock, trs[i])
		if err := sock.handleFrame([]byte(join), false); err != nil {
			t.Fatal(err)
		}
	}
	zWait(t, "joins", func() bool { return srv.pubsub.Subscribers("bench:x") == subs+plain })
	zWait(t, "join replies", func() bool { f, _ := zSums(trs); return f == subs+plain })

	body := strings.Repeat("a chat line that is long enough to compress ", 4)
	if err := srv.Broadcast("bench:x", "new_msg", map[string]string{"body": body}); err != nil {
		t.Fatal(err)
	}
	zWait(t, "deliveries", func() bool {
		f, z := zSums(trs)
		return f+z == 2*(subs+plain)
	})
	if got := n.Load(); got != 2 {
		t.Fatalf("%d compressions for one broadcast to %d subscribers in 2 formats, want 2", got, subs)
	}
	zCheckOne(t, trs, subs)
	if got := string(inflateFrame(t, *trs[0].last.Load())); !strings.Contains(got, body) || !strings.HasPrefix(got, "[null,null,") {
		t.Fatalf("V2 frame inflates to %q", got)
	}
	if got := string(inflateFrame(t, *trs[1].last.Load())); !strings.HasPrefix(got, `{"`) || !strings.Contains(got, body) {
		t.Fatalf("V1 frame inflates to %q", got)
	}

	// Under MinSize: plain for everyone, nothing compressed.
	if err := srv.Broadcast("bench:x", "tiny", map[string]string{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	zWait(t, "tiny deliveries", func() bool { f, _ := zSums(trs); return f == 2*(subs+plain)+plain })
	if got := n.Load(); got != 2 {
		t.Fatalf("%d compressions after a tiny broadcast", got)
	}
}

// zCheckOne checks that, after a join reply each, the first subs
// transports got one compressed frame and the others one plain frame.
func zCheckOne(t *testing.T, trs []*zTransport, subs int) {
	t.Helper()
	for i, tr := range trs {
		wantZ := int64(0)
		if i < subs {
			wantZ = 1
		}
		if tr.compressed.Load() != wantZ || tr.frames.Load() != 2-wantZ {
			t.Fatalf("socket %d: %d compressed, %d plain frames", i, tr.compressed.Load(), tr.frames.Load())
		}
	}
}

func zSums(trs []*zTransport) (frames, compressed int64) {
	for _, tr := range trs {
		frames += tr.frames.Load()
		compressed += tr.compressed.Load()
	}
	return frames, compressed
}

func zWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// shoutChannel replies with the payload to "echo" and broadcasts "shout".
type shoutChannel struct{}

func (shoutChannel) Join(*Channel, Payload) (any, error) { return nil, nil }

func (shoutChannel) HandleIn(c *Channel, msg *InMessage) (any, error) {
	if msg.Event == "shout" {
		return Empty, c.Broadcast("shout", RawJSON(msg.Payload.Bytes()))
	}
	return RawJSON(msg.Payload.Bytes()), nil
}

// zClient is a WebSocket client that negotiates permessage-deflate.
type zClient struct {
	t    *testing.T
	conn net.Conn
	br   io.Reader
}

func dialCompressed(t *testing.T, addr string, offer bool) (*zClient, []httphead.Option) {
	d := ws.Dialer{Timeout: 10 * time.Second}
	if offer {
		d.Extensions = []httphead.Option{{Name: []byte("permessage-deflate")}}
		d.Extensions[0].Parameters.Set([]byte("client_max_window_bits"), nil)
	}
	conn, br, hs, err := d.Dial(context.Background(), "ws://"+addr+"/socket/websocket?vsn=2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &zClient{t: t, conn: conn, br: conn}
	if br != nil {
		c.br = io.MultiReader(br, conn)
	}
	return c, hs.Extensions
}

// send writes one text message, compressed when z.
func (c *zClient) send(s string, z bool) {
	c.t.Helper()
	p := []byte(s)
	var rsv byte
	if z {
		p, rsv = netpoll.Deflate(p, 6), 0x4
	}
	f := ws.NewFrame(ws.OpText, true, p)
	f.Header.Rsv = rsv
	if err := ws.WriteFrame(c.conn, ws.MaskFrameInPlace(f)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads one text message and reports whether it came compressed.
func (c *zClient) next() (string, bool) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		c.t.Fatal(err)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatal(err)
	}
	if h.OpCode != ws.OpText {
		c.t.Fatalf("frame %v %q", h.OpCode, p)
	}
	if h.Rsv&0x4 != 0 {
		return string(inflateFrame(c.t, p)), true
	}
	return string(p), false
}

// Through a real WebSocket: the join reply (small) is plain, a long reply
// and a long broadcast arrive compressed, compressed client frames are
// read; a client that does not offer the extension gets plain frames.
func TestCompressWebSocket(t *testing.T) {
	srv := newServerForTest(t, Config{Compress: CompressConfig{Enabled: true}})
	srv.Channel("room:*", shoutChannel{})
	addr := startWire(t, srv)
	c, ext := dialCompressed(t, addr, true)
	if len(ext) != 1 || string(ext[0].Name) != "permessage-deflate" {
		t.Fatalf("extensions %v", ext)
	}
	plain, ext := dialCompressed(t, addr, false)
	if len(ext) != 0 {
		t.Fatalf("extensions without an offer: %v", ext)
	}
	for _, cl := range []*zClient{c, plain} {
		cl.send(`["1","1","room:z","phx_join",{}]`, false)
		if got, z := cl.next(); got != `["1","1","room:z","phx_reply",{"response":{},"status":"ok"}]` || z {
			t.Fatalf("join reply %q compressed %v", got, z)
		}
	}
	long := `{"body":"` + strings.Repeat("compressible chat text ", 10) + `"}`
	c.send(`["1","2","room:z","echo",`+long+`]`, true)
	if got, z := c.next(); got != `["1","2","room:z","phx_reply",{"response":`+long+`,"status":"ok"}]` || !z {
		t.Fatalf("reply %q compressed %v", got, z)
	}
	c.send(`["1","3","room:z","shout",`+long+`]`, true)
	want := `[null,null,"room:z","shout",` + long + `]`
	for _, cl := range []*zClient{c, plain} {
		got, z := cl.next()
		if got == `["1","3","room:z","phx_reply",{"response":{},"status":"ok"}]` {
			got, z = cl.next()
		}
		if got != want || z != (cl == c) {
			t.Fatalf("broadcast %q compressed %v", got, z)
		}
	}
}

// Config.Compress reaches the event loop, every field of it.
func TestCompressConfigCarried(t *testing.T) {
	c := CompressConfig{Enabled: true, MinSize: 300, Level: 9}
	got := c.netpoll()
	if got != (netpoll.DeflateConfig{Enabled: true, MinSize: 300, Level: 9}) {
		t.Fatalf("carried as %+v", got)
	}
	if n := reflect.TypeFor[CompressConfig]().NumField(); n != reflect.TypeFor[netpoll.DeflateConfig]().NumField() || n != 3 {
		t.Fatalf("CompressConfig has %d fields: carry the new ones", n)
	}
	if d := (CompressConfig{}).netpoll(); d.Enabled || d.MinSize != netpoll.DefaultDeflateMinSize {
		t.Fatalf("zero value carried as %+v", d)
	}
}

// A broadcast frame of exactly MinSize bytes is compressed, one byte
// shorter is not.
func TestCompressBroadcastMinSize(t *testing.T) {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1, LongPoll: LongPollConfig{Disabled: true},
		Compress: CompressConfig{Enabled: true}})
	defer srv.Close()
	info := &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
	sock := srv.newSocket(info, serializer.V2, Assigns{})
	tr := &zTransport{on: true}
	srv.opened(sock, tr)
	frameOf := func(pad int) *Broadcast {
		return &Broadcast{Topic: "t", Event: "e", Payload: []byte(`{"b":"` + strings.Repeat("x", pad) + `"}`)}
	}
	f0, _, _ := frameOf(0).Encoded(serializer.V2)
	for _, size := range []int{netpoll.DefaultDeflateMinSize - 1, netpoll.DefaultDeflateMinSize} {
		b := frameOf(size - len(f0))
		if f, _, _ := b.Encoded(serializer.V2); len(f) != size {
			t.Fatalf("frame of %d bytes, want %d", len(f), size)
		}
		before := tr.compressed.Load()
		sock.writeBroadcast(b)
		if got := tr.compressed.Load() - before; got != int64(min(1, size/netpoll.DefaultDeflateMinSize)) {
			t.Fatalf("frame of %d bytes: %d compressed", size, got)
		}
	}
}
