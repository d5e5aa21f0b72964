package netpoll

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// dribbleConn writes in pieces of 3 bytes with a pause between them, so
// the server sees records (and the handshake's) cut at every offset.
type dribbleConn struct{ net.Conn }

func (d dribbleConn) Write(p []byte) (int, error) {
	for i := 0; i < len(p); i += 3 {
		if _, err := d.Conn.Write(p[i:min(i+3, len(p))]); err != nil {
			return i, err
		}
		if i%96 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return len(p), nil
}

func TestTLSFragmentedRecords(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	d := ws.Dialer{TLSConfig: clientTLSConfig(), NetDial: func(ctx context.Context, network, a string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, a)
		if err != nil {
			return nil, err
		}
		return dribbleConn{nc}, nil
	}}
	c := dialWith(t, d, "wss://"+addr+"/socket")
	// One record per byte of the frame, each record cut in pieces.
	msg := []byte("one record per byte")
	for _, b := range frame(ws.OpText, true, msg) {
		c.write([]byte{b})
	}
	if got := c.expectFrame(ws.OpText); !bytes.Equal(got, msg) {
		t.Fatalf("echo %q", got)
	}
	big := bytes.Repeat([]byte("0123456789"), 5000)
	c.expectEcho(ws.OpBinary, big)
}

// A client that never finishes its handshake is dropped at
// HandshakeTimeout and its slot freed.
func TestTLSHandshakeTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s, addr := startTLSServer(t, Config{HandshakeTimeout: timeout}, acceptAll(newRecorder(true)), nil)
	c := rawClient(t, addr)
	c.write([]byte{recHandshake, 3, 1, 0, 200, 1, 0}) // half a ClientHello
	start := time.Now()
	c.expectEOF()
	if el := time.Since(start); el < timeout-50*time.Millisecond {
		t.Fatalf("dropped after %v, before HandshakeTimeout", el)
	}
	eventually(t, "slot freed", func() bool {
		st := s.TLSStats()
		return st.InProgress == 0 && st.Failed == 1 && s.Stats().Slots == 0
	})
	dialTLS(t, addr) // and the server still serves
}

// At most MaxTLSHandshakes run at once: connections beyond are closed at
// accept, and a slot freed by a timeout is usable again.
func TestTLSHandshakeCap(t *testing.T) {
	const limit, timeout = 3, 3 * time.Second
	s, addr := startTLSServer(t, Config{MaxTLSHandshakes: limit, HandshakeTimeout: timeout},
		acceptAll(newRecorder(true)), nil)
	stalled := make([]*client, limit)
	for i := range stalled {
		stalled[i] = rawClient(t, addr)
	}
	eventually(t, "handshakes in progress", func() bool { return s.TLSStats().InProgress == limit })
	for i := range limit {
		c := rawClient(t, addr)
		start := time.Now()
		c.expectEOF()
		if el := time.Since(start); el > timeout/2 {
			t.Fatalf("extra handshake %d closed after %v: it was not refused at the cap", i, el)
		}
		if st := s.TLSStats(); st.InProgress > limit {
			t.Fatalf("%d handshakes in progress, cap %d", st.InProgress, limit)
		}
	}
	if st := s.TLSStats(); st.Refused != limit {
		t.Fatalf("refused %d, want %d", st.Refused, limit)
	}
	for _, c := range stalled {
		c.expectEOF()
	}
	eventually(t, "slots freed", func() bool { return s.TLSStats().InProgress == 0 })
	dialTLS(t, addr)
}

// Plain HTTP over https: handed to net/http over the loop's record
// layer, keep-alive and bodies included.
func TestTLSFallbackHTTP(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %d", r.Method, r.URL.Path, len(b))
	})
	s, addr := startTLSServer(t, Config{}, acceptAll(newRecorder(true)), fallback)
	tr := &http.Transport{TLSClientConfig: clientTLSConfig()}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: testWait}
	get := func(method string, body []byte) string {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+"/path", bytes.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 {
			t.Fatalf("not TLS 1.3: %+v", resp.TLS)
		}
		return string(b)
	}
	if got := get("GET", nil); got != "GET /path 0" {
		t.Fatalf("GET: %q", got)
	}
	big := bytes.Repeat([]byte("x"), 300<<10)
	if got := get("POST", big); got != fmt.Sprintf("POST /path %d", len(big)) {
		t.Fatalf("POST: %q", got)
	}
	if got := get("GET", nil); !strings.HasPrefix(got, "GET") {
		t.Fatalf("GET again: %q", got)
	}
	if n := s.Stats().HandedOff; n != 1 {
		t.Fatalf("%d connections handed off, want 1 (keep-alive)", n)
	}
}

// A record that never completes is a frame that never completes: closed
// at FrameTimeout, and its buffer goes with it.
func TestTLSPartialRecordTimeout(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{FrameTimeout: 200 * time.Millisecond, IdleTimeout: time.Hour},
		acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	rec.waitOpen(t)
	whole := m.wr.seal(nil, recAppData, frame(ws.OpText, true, []byte("never completes")))
	if _, err := m.raw.Write(whole[:len(whole)-1]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if ev := rec.waitClose(t); ev.code != ClosePolicyViolation || ev.reason != "frame timeout" {
		t.Fatalf("OnClose %d %q, want 1008 frame timeout", ev.code, ev.reason)
	}
	if el := time.Since(start); el > testWait {
		t.Fatalf("closed after %v", el)
	}
}

// A peer that asks for KeyUpdates and reads nothing: our answers pile up
// only to maxKeyUpdateOut, then the connection is closed.
func TestTLSKeyUpdateFlood(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	_ = m.raw.(*net.TCPConn).SetReadBuffer(4096)
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	setSndBuf(rec.waitOpen(t), 4096)
	// Each answer is 27 bytes: the socket buffers (a few KiB each way) and
	// the 4 KiB cap are full long before this many requests.
	const most = 20000
	sent := 0
	_ = m.raw.SetWriteDeadline(time.Now().Add(testWait))
	for ; sent < most; sent++ {
		if _, err := m.raw.Write(m.wr.seal(nil, recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 1})); err != nil {
			break
		}
		_ = m.wr.update()
		if len(rec.closed) > 0 {
			break
		}
	}
	ev := rec.waitClose(t)
	if ev.code != CloseAbnormal {
		t.Fatalf("OnClose %d %q", ev.code, ev.reason)
	}
	t.Logf("closed after %d KeyUpdate requests", sent)
}

// An idle TLS socket holds its keys and nothing else: no record buffer,
// no sealed output, no goroutine. Measured as Go memory per connection
// (server, plus clients reduced to their TCP connection), against plain.
func TestTLSIdleMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("memory figures are meaningless under the race detector; runs without -race")
	}
	const n = 200
	perConn := func(useTLS bool) float64 {
		rec := newRecorder(true)
		rec.opened = make(chan *Conn, n)
		var addr string
		if useTLS {
			_, addr = startTLSServer(t, Config{}, acceptAll(rec), nil)
		} else {
			_, addr = startServer(t, Config{}, acceptAll(rec), nil)
		}
		before := memInUse()
		raws := make([]net.Conn, n)
		for i := range raws {
			raws[i] = idleClient(t, addr, useTLS)
		}
		t.Cleanup(func() {
			for _, r := range raws {
				_ = r.Close()
			}
		})
		time.Sleep(50 * time.Millisecond)
		return float64(memInUse()-before) / n
	}
	plain, withTLS := perConn(false), perConn(true)
	t.Logf("Go memory per idle socket: plain %.0f B, TLS %.0f B", plain, withTLS)
	// Keys and AEAD state are about 2 KB; one record buffer alone would be 18 KB.
	if withTLS-plain > 8<<10 {
		t.Fatalf("an idle TLS socket costs %.0f B more than a plain one: it holds buffers", withTLS-plain)
	}
}
