package netpoll

import (
	"bytes"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// fastCorpus are heads of many shapes: the usual ones (which must take the
// fast path) and odd ones (which may, if both paths agree).
var fastCorpus = []string{
	upgradeRequest("/socket/websocket?token=abc&vsn=2.0.0"),
	upgradeRequest("/"),
	upgradeRequest("/s?"),
	upgradeRequest("/s??a=b"),
	upgradeRequest("/s#frag?x"),
	upgradeRequest("//double/slash"),
	upgradeRequest("/a:b/c"),
	upgradeRequest("/socket", "Origin: https://app.example\r\n", "X-Multi: 1\r\n", "X-Multi: 2\r\n"),
	upgradeRequest("/socket", "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dG9rZW4\r\n"),
	upgradeRequest("/socket", "Sec-WebSocket-Protocol: a\r\n", "Sec-WebSocket-Protocol: b, c\r\n"),
	upgradeRequest("/socket", "Sec-WebSocket-Protocol: \r\n"),
	upgradeRequest("/socket", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
	upgradeRequest("/socket", "x-lower-case:\tvalue with  spaces \t\r\n", "USER-AGENT: Shouting/1.0\r\n"),
	upgradeRequest("/socket", "Weird_Key.+!: v\r\n", "Empty:\r\n", "Cookie: a=1\r\n", "cookie: b=2\r\n"),
	upgradeRequest("/socket", "Host: again\r\n"),
	upgradeRequest("/socket", "Key With Space: v\r\n"),
	upgradeRequest("/socket", ": no key\r\n"),
	upgradeRequest("/socket", "NoColon\r\n"),
	upgradeRequest("/socket", " folded: v\r\n"),
	upgradeRequest("/socket", "X-Utf8: caf\xc3\xa9\r\n"),
	upgradeRequest("/socket", "X-Ctl: a\x01b\r\n"),
	upgradeRequest("/socket", "X-Nbsp: a\xc2\xa0\r\n"),
	upgradeRequest("/socket", "X-Long-"+strings.Repeat("k", 80)+": v\r\n"),
	upgradeRequest("/socket", "x-long-"+strings.Repeat("k", 80)+": v\r\n"), // not canonical, past canonicalKey's buffer
	upgradeRequest("/socket", "Sec-WebSocket-Version: 13\r\n"),
	upgradeRequest("/web%20socket?token=a%2Bb"),
	upgradeRequest("/socket/websocket?token=user%3A17&vsn=2.0.0"),
	upgradeRequest("/s?bad=%zz&%&x=%2"),
	upgradeRequest("/s?a=b?c%20d#e"),
	upgradeRequest("/caf\xc3\xa9"),
	upgradeRequest("*"),
	upgradeRequest("http://example.com/socket"),
	strings.Replace(upgradeRequest("/s"), "HTTP/1.1", "HTTP/1.0", 1),
	strings.Replace(upgradeRequest("/s"), "HTTP/1.1", "HTTP/1.2", 1),
	strings.Replace(upgradeRequest("/s"), "GET ", "POST ", 1),
	strings.Replace(upgradeRequest("/s"), "GET /s", "GET  /s", 1),
	strings.Replace(upgradeRequest("/s"), "Connection: Upgrade", "Connection: keep-alive, Upgrade", 1),
	strings.Replace(upgradeRequest("/s"), "Connection: Upgrade", "connection: upgrade", 1),
	strings.Replace(upgradeRequest("/s"), "Connection: Upgrade", "Connection: keep-alive,,Upgrade", 1),
	strings.Replace(upgradeRequest("/s"), "Connection: Upgrade", "Connection: \"Upgrade\"", 1),
	strings.Replace(upgradeRequest("/s"), "Connection: Upgrade", "Connection: Upgrade;q=1", 1),
	strings.Replace(upgradeRequest("/s"), "Connection: Upgrade", "Connection: close", 1),
	strings.Replace(upgradeRequest("/s"), "Upgrade: websocket", "upgrade: WebSocket", 1),
	strings.Replace(upgradeRequest("/s"), "Upgrade: websocket", "Upgrade: websocket, h2c", 1),
	strings.Replace(upgradeRequest("/s"), "Version: 13", "Version: 12", 1),
	strings.Replace(upgradeRequest("/s"), "Version: 13", "Version:  13 ", 1),
	strings.Replace(upgradeRequest("/s"), "dGhlIHNhbXBsZSBub25jZQ==", "short", 1),
	strings.Replace(upgradeRequest("/s"), "dGhlIHNhbXBsZSBub25jZQ==", "!!!!!!!!!!!!!!!!!!!!!!!!", 1),
	strings.Replace(upgradeRequest("/s"), "Host: example.com\r\n", "", 1),
	strings.Replace(upgradeRequest("/s"), "Host: example.com", "Host:", 1),
	strings.ReplaceAll(upgradeRequest("/s"), "\r\n", "\n"),
	strings.Replace(upgradeRequest("/s"), "Upgrade: websocket\r\n", "Upgrade: websocket\n", 1),
	"GET /s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
}

// fastAgrees checks that when the fast path takes head, gobwas takes it
// too, with the same UpgradeRequest and the same 101; it reports whether
// the fast path took it.
func fastAgrees(t *testing.T, s *Server, head []byte) bool {
	t.Helper()
	fast := false
	for _, proto := range []string{"", "phoenix"} {
		up := upgraderFunc(func(*UpgradeRequest) UpgradeResponse {
			return UpgradeResponse{Handler: nopHandler{}, Protocol: proto}
		})
		req, key, ok := parseFastHead(bytes.Clone(head), s.cfg.Deflate.Enabled)
		if !ok {
			return false
		}
		fast = true
		slow := s.gobwasUpgrade(up, nil, bytes.Clone(head))
		if slow.err != nil || !slow.decided || slow.deflate {
			t.Fatalf("fast path took %q; gobwas: err %v, decided %v, deflate %v",
				head, slow.err, slow.decided, slow.deflate)
		}
		if !reflect.DeepEqual(req, slow.req) {
			t.Fatalf("head %q:\nfast %#v\nslow %#v", head, req, slow.req)
		}
		if got := append101(nil, key, proto); !bytes.Equal(got, slow.out) || len(got) != len101(proto) {
			t.Fatalf("head %q, protocol %q: fast 101\n%q\ngobwas\n%q", head, proto, got, slow.out)
		}
	}
	return fast
}

func TestFastHeadAgrees(t *testing.T) {
	plain := newTestServer(t, Config{})
	deflate := newTestServer(t, Config{Deflate: DeflateConfig{Enabled: true}})
	took := 0
	for _, h := range fastCorpus {
		end := headEnd([]byte(h), 0)
		if end < 0 {
			t.Fatalf("corpus head %q has no end", h)
		}
		if fastAgrees(t, plain, []byte(h[:end])) {
			took++
		}
		fastAgrees(t, deflate, []byte(h[:end]))
	}
	if took < 15 {
		t.Fatalf("the fast path took only %d heads of the corpus", took)
	}
}

// TestFastHeadTaken: the heads clients really send take the fast path;
// an extension offer does only while deflate is off.
func TestFastHeadTaken(t *testing.T) {
	heads := []string{upgradeRequest("/socket/websocket?vsn=2.0.0"),
		upgradeRequest("/socket/websocket?token=user%3A17&vsn=2.0.0"),
		strings.Replace(upgradeRequest("/s"), "Connection: Upgrade", "Connection: keep-alive, Upgrade", 1),
		upgradeRequest("/socket", "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dG9rZW4\r\n")}
	for _, b := range benchHeads {
		heads = append(heads, b.head)
	}
	for _, h := range heads {
		if _, _, ok := parseFastHead([]byte(h), false); !ok {
			t.Errorf("usual head took the general path: %q", h)
		}
	}
	ext := benchHeads[1].head
	if _, _, ok := parseFastHead([]byte(ext), true); ok {
		t.Fatal("an extension offer took the fast path with deflate on")
	}
}

// FuzzFastHead: whatever the fast path takes, gobwas takes alike.
func FuzzFastHead(f *testing.F) {
	for _, h := range fastCorpus {
		f.Add([]byte(h), false)
	}
	f.Add([]byte(benchHeads[1].head), true)
	s := newTestServer(f, Config{})
	sd := newTestServer(f, Config{Deflate: DeflateConfig{Enabled: true}})
	f.Fuzz(func(t *testing.T, b []byte, deflate bool) {
		end := headEnd(b, 0)
		if end < 0 || end > maxHeadBytes {
			return
		}
		if deflate {
			fastAgrees(t, sd, b[:end])
		} else {
			fastAgrees(t, s, b[:end])
		}
	})
}

// TestHeadLimitOneRead: the head parsed in the worker's buffer (one read)
// has the limit of one gathered over many: 16 KiB is served, one byte more
// is 431, whether it comes in one write or trickles in.
func TestHeadLimitOneRead(t *testing.T) {
	_, addr := startServer(t, Config{}, acceptAll(newRecorder(false)), nil)
	pad := func(total int) string {
		h := upgradeRequest("/socket", "X-Pad: \r\n")
		return strings.Replace(h, "X-Pad: ", "X-Pad: "+strings.Repeat("p", total-len(h)), 1)
	}
	for _, tc := range []struct {
		size   int
		status string
	}{
		{maxHeadBytes, "101"},
		{maxHeadBytes + 1, "431"},
	} {
		h := pad(tc.size)
		if len(h) != tc.size {
			t.Fatalf("head of %d bytes, want %d", len(h), tc.size)
		}
		c := rawClient(t, addr)
		c.write([]byte(h))
		if got := c.readHead(); !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
			t.Fatalf("%d bytes: response %q", tc.size, got)
		}
		_ = c.conn.Close()

		// The same head in two reads: gathered, and held to the same limit.
		sv := &serveCtx{}
		sv.fresh = &handshake{sv: sv}
		sc := &Conn{hs: sv.fresh}
		if _, end, tooBig := sc.gatherHead([]byte(h[:100])); end >= 0 || tooBig {
			t.Fatalf("%d bytes, first read: end %d, too big %v; want to wait", tc.size, end, tooBig)
		}
		if sc.hs == sv.fresh || len(sc.hs.head) != 100 {
			t.Fatal("the first read's bytes are not kept in the connection's own handshake")
		}
		data, end, tooBig := sc.gatherHead([]byte(h[100:]))
		if string(data) != h || end != tc.size || tooBig != (tc.status == "431") {
			t.Fatalf("%d bytes in two reads: %d gathered, end %d, too big %v", tc.size, len(data), end, tooBig)
		}
	}
}

func TestAddrPort(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := dial(t, addr)
	sc := rec.waitOpen(t)
	want := c.conn.LocalAddr().(*net.TCPAddr).AddrPort()
	if got := sc.AddrPort(); got != want {
		t.Fatalf("AddrPort %v, want %v", got, want)
	}
	if got := sc.RemoteAddr(); !reflect.DeepEqual(got, net.TCPAddrFromAddrPort(want)) {
		t.Fatalf("RemoteAddr %#v, want %#v", got, net.TCPAddrFromAddrPort(want))
	}
	if n := testing.AllocsPerRun(100, func() { _ = sc.AddrPort() }); n != 0 {
		t.Fatalf("AddrPort allocates %v times", n)
	}
	// RemoteAddr (as the handshake's and fdConn's, through netAddr)
	// builds its *net.TCPAddr in one allocation.
	if n := testing.AllocsPerRun(100, func() { _ = sc.RemoteAddr() }); n > 1 {
		t.Fatalf("RemoteAddr allocates %v times", n)
	}
	req := UpgradeRequest{RemoteAddr: sc.RemoteAddr()}
	if got := req.AddrPort(); got != want {
		t.Fatalf("UpgradeRequest.AddrPort %v, want %v", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { _ = req.AddrPort() }); n != 0 {
		t.Fatalf("UpgradeRequest.AddrPort allocates %v times", n)
	}
	mapped := UpgradeRequest{RemoteAddr: &net.TCPAddr{IP: net.ParseIP("10.0.0.7"), Port: 9}}
	if got := mapped.AddrPort(); got != netip.MustParseAddrPort("10.0.0.7:9") {
		t.Fatalf("16-byte IPv4: %v", got)
	}
	v4in6 := &Conn{peer: peerFromSockaddr(&unix.SockaddrInet6{Port: 7, Addr: [16]byte{10: 0xff, 11: 0xff, 12: 10, 15: 7}})}
	if got := v4in6.AddrPort(); got != netip.MustParseAddrPort("10.0.0.7:7") {
		t.Fatalf("IPv4 peer of an IPv6 listener: %v", got)
	}
	if got := (&Conn{}).AddrPort(); got.IsValid() {
		t.Fatalf("Unix socket: %v", got)
	}
	if got := (&UpgradeRequest{}).AddrPort(); got.IsValid() {
		t.Fatalf("no RemoteAddr: %v", got)
	}
	v6 := netip.MustParseAddrPort("[2001:db8::1]:443")
	if got := newTCPAddr(v6); !reflect.DeepEqual(got, net.TCPAddrFromAddrPort(v6)) {
		t.Fatalf("newTCPAddr %#v", got)
	}
}

// queuedClient connects to ln and writes p before anything is served, so
// the server finds it all (and what the client does next) at its first
// read; serve then starts serving ln.
func queuedClient(t *testing.T, s *Server, ln net.Listener, up Upgrader, p []byte, then func(net.Conn)) *client {
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := wrapClient(t, conn)
	c.write(p)
	if then != nil {
		then(conn)
	}
	time.Sleep(50 * time.Millisecond) // let it all reach the server's socket
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, up, nil) }()
	t.Cleanup(func() {
		_ = s.Close()
		<-served
	})
	return c
}

// TestHalfCloseAfterHead: a client sends its head and half-closes. The
// task that upgrades reads no further itself (the read that brought a
// short head drained the socket, and later bytes raise their own edge),
// but the EOF of a half-close raises none: it must schedule the read that
// finds it, so the connection is dropped (1006) instead of idling.
func TestHalfCloseAfterHead(t *testing.T) {
	rec := newRecorder(false)
	s, ln := listenServer(t, Config{})
	c := queuedClient(t, s, ln, acceptAll(rec), []byte(upgradeRequest("/socket")), func(nc net.Conn) {
		_ = nc.(*net.TCPConn).CloseWrite()
	})
	if head := c.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("response %q", head)
	}
	if ev := rec.waitClose(t); ev.code != CloseAbnormal {
		t.Fatalf("closed with %d %q, want 1006", ev.code, ev.reason)
	}
}

// TestFramesBeyondFirstRead: a head followed by more frames than one read
// takes, all in the socket before the server first reads it: the task
// that upgrades parses the frames that came with the head and reads on.
func TestFramesBeyondFirstRead(t *testing.T) {
	rec := newRecorder(true)
	s, ln := listenServer(t, Config{})
	big := bytes.Repeat([]byte("b"), readChunk+readChunk/4)
	req := append([]byte(upgradeRequest("/socket")), frame(ws.OpBinary, true, big)...)
	c := queuedClient(t, s, ln, acceptAll(rec), append(req, frame(ws.OpText, true, []byte("last"))...), nil)
	if head := c.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("response %q", head)
	}
	if p := c.expectFrame(ws.OpBinary); !bytes.Equal(p, big) {
		t.Fatalf("echo of %d bytes, want %d", len(p), len(big))
	}
	if p := c.expectFrame(ws.OpText); string(p) != "last" {
		t.Fatalf("got %q", p)
	}
}
