package netpoll

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// settleFDs waits until at most want fds are open (closes run on other
// goroutines: the loop's tasks, net/http's). Fewer is allowed: a
// previous test's last connections may close meanwhile.
func settleFDs(t *testing.T, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for {
		n := countFDs(t)
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d fds open, %d before: leaked", what, n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stableFDs is the fd count once it has not changed for 100 ms.
func stableFDs(t *testing.T) int {
	t.Helper()
	n := countFDs(t)
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		m := countFDs(t)
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// Every way a TLS connection can end gives its fd back: after each
// attack, with its clients closed, the process holds no more fds than
// before it, and every slot is free. (A double close would break the
// connections of the attacks that run alongside, which must all work.)
func TestTLSFDsEveryPath(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	rec := newRecorder(true)
	s, addr := startTLSServer(t, Config{}, acceptAll(rec), fallback)
	const limit = 2 // a second TLS server, for the handshake cap
	cs, caddr := startTLSServer(t, Config{MaxTLSHandshakes: limit, HandshakeTimeout: time.Second},
		acceptAll(rec), nil)
	ms, _ := startServer(t, Config{}, acceptAll(rec), nil)
	maddr := mountTLS(t, ms, acceptAll(rec), true)
	tr := &http.Transport{TLSClientConfig: clientTLSConfig(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: testWait}
	get := func(url string) {
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	// Warm up (Go's poller, pools), then take the baseline.
	dialTLS(t, addr).conn.Close()
	get("https://" + addr + "/x")
	base := stableFDs(t)
	free := func(what string) {
		t.Helper()
		settleFDs(t, base, what)
		eventually(t, what+": slots freed", func() bool {
			return s.Stats().Slots == 0 && ms.Stats().Slots == 0 && cs.Stats().Slots == 0 &&
				s.TLSStats().InProgress == 0 && cs.TLSStats().InProgress == 0
		})
	}
	rawTo := func(addr string) net.Conn {
		nc, err := net.DialTimeout("tcp", addr, testWait)
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	raw := func() net.Conn { return rawTo(addr) }
	waitEOF := func(nc net.Conn) string {
		_ = nc.SetReadDeadline(time.Now().Add(testWait))
		b, err := io.ReadAll(nc)
		if err != nil && !strings.Contains(err.Error(), "reset") {
			t.Errorf("no EOF: %v", err)
		}
		return string(b)
	}
	const n, capRuns = 10, 2
	attacks := []struct {
		name string
		run  func()
	}{
		{"garbage ClientHello", func() {
			nc := raw()
			nc.Write([]byte{recHandshake, 3, 1, 0, 5, 9, 9, 9, 9, 9})
			waitEOF(nc)
			nc.Close()
		}},
		{"plain HTTP to the TLS port", func() {
			nc := raw()
			nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			if got := waitEOF(nc); !strings.Contains(got, "HTTPS server") {
				t.Errorf("answer %q", got)
			}
			nc.Close()
		}},
		{"client gone mid-handshake", func() {
			nc := raw()
			nc.Write([]byte{recHandshake, 3, 1, 0, 200, 1, 0})
			time.Sleep(time.Millisecond)
			nc.Close()
		}},
		{"handshake cap and timeout", func() {
			var stalled []net.Conn
			for range limit {
				stalled = append(stalled, rawTo(caddr))
			}
			eventually(t, "handshakes in progress", func() bool { return cs.TLSStats().InProgress == limit })
			for range 3 {
				nc := rawTo(caddr)
				waitEOF(nc)
				nc.Close()
			}
			for _, nc := range stalled {
				waitEOF(nc) // HandshakeTimeout
				nc.Close()
			}
		}},
		{"close_notify", func() {
			m := newManualTLS(t, addr)
			upgradeManual(t, m)
			m.send(recAlert, []byte{1, alertCloseNotify})
			waitEOF(m.raw)
			m.raw.Close()
		}},
		{"bad record", func() {
			m := newManualTLS(t, addr)
			upgradeManual(t, m)
			m.raw.Write([]byte{recAppData, 3, 3, 0, 30, 1, 2, 3})
			m.raw.Write(make([]byte, 27))
			waitEOF(m.raw)
			m.raw.Close()
		}},
		{"close handshake", func() {
			c := dialTLS(t, addr)
			c.send(ws.OpClose, closeBody(1000, ""))
			c.expectCloseEOF(1000, "")
			c.conn.Close()
		}},
		{"client drops TCP", func() {
			c := dialTLS(t, addr)
			c.send(ws.OpText, []byte("x"))
			c.expectFrame(ws.OpText)
			c.conn.Close()
		}},
		{"https request handed to net/http", func() { get("https://" + addr + "/plain") }},
		{"https keep-alive, client closes", func() {
			tc := tlsRaw(t, addr)
			io.WriteString(tc, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			tc.Close()
		}},
		{"mount path upgrade", func() {
			c := dialTLS(t, maddr)
			c.send(ws.OpText, []byte("m"))
			c.expectFrame(ws.OpText)
			c.conn.Close()
		}},
		{"mount path, not adoptable (CBC)", func() {
			cfg := clientTLSConfig()
			cfg.MaxVersion = tls.VersionTLS12
			cfg.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}
			_, _, _, err := ws.Dialer{TLSConfig: cfg, Timeout: testWait}.Dial(t.Context(), "wss://"+maddr+"/socket")
			if err == nil {
				t.Fatal("upgrade over a CBC suite accepted")
			}
		}},
	}
	for _, a := range attacks {
		var wg sync.WaitGroup
		for range n {
			if a.name == "handshake cap and timeout" {
				break
			}
			wg.Go(a.run)
		}
		if a.name == "handshake cap and timeout" {
			for range capRuns { // one at a time: they share the cap
				a.run()
			}
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		free(a.name)
	}
	if st := cs.TLSStats(); st.Refused != 3*capRuns || st.Failed != limit*capRuns {
		t.Fatalf("cap server: %+v, want %d refused, %d timed out", st, 3*capRuns, limit*capRuns)
	}
}

// Shutdown while handshakes are in progress: they end at once (not at
// HandshakeTimeout), every fd is closed and no goroutine is left (goleak
// in TestMain).
func TestTLSShutdownDuringHandshakes(t *testing.T) {
	base := stableFDs(t)
	s, ln := listenServer(t, Config{HandshakeTimeout: time.Minute})
	served := make(chan error, 1)
	go func() { served <- s.ServeTLS(ln, serverTLSConfig(), acceptAll(newRecorder(true)), nil) }()
	var clients []net.Conn
	for i := range 8 {
		nc, err := net.DialTimeout("tcp", ln.Addr().String(), testWait)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			nc.Write([]byte{recHandshake, 3, 1, 0, 200, 1, 0}) // half a ClientHello
		}
		clients = append(clients, nc)
	}
	eventually(t, "handshakes in progress", func() bool { return s.TLSStats().InProgress == 8 })
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("Close took %v with handshakes in progress", el)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ServeTLS: %v", err)
	}
	if st := s.TLSStats(); st.InProgress != 0 || s.Stats().Slots != 0 {
		t.Fatalf("after Close: %+v, %d slots", st, s.Stats().Slots)
	}
	for _, nc := range clients {
		_ = nc.SetReadDeadline(time.Now().Add(testWait))
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Fatal("a handshake outlived Close")
		}
		nc.Close()
	}
	settleFDs(t, base, "after Close")
}
