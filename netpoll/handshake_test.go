package netpoll

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

func TestUpgradeRequestFields(t *testing.T) {
	rec := newRecorder(false)
	got := make(chan *UpgradeRequest, 1)
	up := upgraderFunc(func(r *UpgradeRequest) UpgradeResponse {
		got <- r
		return UpgradeResponse{Handler: rec}
	})
	_, addr := startServer(t, Config{}, up, nil)
	c := rawClient(t, addr)
	c.write([]byte(upgradeRequest("/socket/web%20socket?token=a%2Bb&vsn=2.0.0",
		"Origin: https://app.example\r\n", "X-Multi: 1\r\n", "X-Multi: 2\r\n")))
	if head := c.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("response %q", head)
	}
	r := <-got
	if r.Path != "/socket/web socket" || r.RawQuery != "token=a%2Bb&vsn=2.0.0" || r.Host != "example.com" {
		t.Fatalf("path %q query %q host %q", r.Path, r.RawQuery, r.Host)
	}
	if r.Header.Get("Origin") != "https://app.example" || len(r.Header.Values("X-Multi")) != 2 ||
		r.Header.Get("Upgrade") != "websocket" || r.Header.Get("Sec-Websocket-Key") == "" {
		t.Fatalf("headers %v", r.Header)
	}
	if r.RemoteAddr == nil || r.RemoteAddr.String() != c.conn.LocalAddr().String() {
		t.Fatalf("remote %v", r.RemoteAddr)
	}
}

func TestSubprotocol(t *testing.T) {
	rec := newRecorder(false)
	offers := make(chan []string, 2)
	up := upgraderFunc(func(r *UpgradeRequest) UpgradeResponse {
		offers <- r.Protocols
		return UpgradeResponse{Handler: rec, Protocol: "phoenix"}
	})
	_, addr := startServer(t, Config{}, up, nil)
	c := rawClient(t, addr)
	c.write([]byte(upgradeRequest("/socket", "Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.dG9rZW4\r\n")))
	head := c.readHead()
	if offered := <-offers; !slices.Equal(offered, []string{"phoenix", "base64url.bearer.phx.dG9rZW4"}) {
		t.Fatalf("offered %q", offered)
	}
	if !strings.Contains(head, "\r\nSec-WebSocket-Protocol: phoenix\r\n") || strings.Contains(head, "bearer") {
		t.Fatalf("response head %q", head)
	}
	// Through gobwas's client, which checks the answer against its offer.
	d := dialWith(t, ws.Dialer{Protocols: []string{"phoenix"}}, "ws://"+addr+"/socket")
	if d.hs.Protocol != "phoenix" {
		t.Fatalf("negotiated %q", d.hs.Protocol)
	}
}

func TestRejectCustomResponse(t *testing.T) {
	up := upgraderFunc(func(*UpgradeRequest) UpgradeResponse {
		return UpgradeResponse{Status: http.StatusTooManyRequests,
			Header: http.Header{"Retry-After": {"5"}, "Content-Type": {"application/json"}},
			Body:   []byte(`{"reason":"rate_limited"}`)}
	})
	_, addr := startServer(t, Config{}, up, nil)
	c := rawClient(t, addr)
	c.write([]byte(upgradeRequest("/socket")))
	want := "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 5\r\n" +
		"Content-Length: 25\r\nConnection: close\r\n\r\n{\"reason\":\"rate_limited\"}"
	if got := c.readAll(); got != want {
		t.Fatalf("response\n%q\nwant\n%q", got, want)
	}
}

func TestInvalidUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name, req, status string
	}{
		{"no key", "GET /s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", "400"},
		{"bad version", strings.Replace(upgradeRequest("/s"), "Version: 13", "Version: 12", 1), "426"},
		{"no connection", strings.Replace(upgradeRequest("/s"), "Connection: Upgrade\r\n", "", 1), "400"},
		{"http/1.0", strings.Replace(upgradeRequest("/s"), "HTTP/1.1", "HTTP/1.0", 1), "505"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			up := upgraderFunc(func(*UpgradeRequest) UpgradeResponse {
				called = true
				return UpgradeResponse{Handler: newRecorder(false)}
			})
			_, addr := startServer(t, Config{}, up, nil)
			c := rawClient(t, addr)
			c.write([]byte(tc.req))
			if got := c.readAll(); !strings.HasPrefix(got, "HTTP/1.1 "+tc.status+" ") {
				t.Fatalf("response %q", got)
			}
			if called {
				t.Fatal("Upgrader consulted for an invalid request")
			}
		})
	}
}

func TestHeadTooLarge(t *testing.T) {
	_, addr := startServer(t, Config{}, acceptAll(newRecorder(false)), nil)
	c := rawClient(t, addr)
	c.write([]byte("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n"))
	if got := c.readAll(); !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Fatalf("response %q", got)
	}
}

func TestBytesAfterHead(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startServer(t, Config{}, acceptAll(rec), nil)
	c := rawClient(t, addr)
	req := []byte(upgradeRequest("/socket"))
	req = append(req, frame(ws.OpText, true, []byte("first"))...)
	req = append(req, frame(ws.OpText, true, []byte("second"))...)
	c.write(req) // one write: the frames arrive with the head
	if head := c.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("response %q", head)
	}
	for _, want := range []string{"first", "second"} {
		if p := c.expectFrame(ws.OpText); string(p) != want {
			t.Fatalf("got %q want %q", p, want)
		}
	}
}

func TestSlowloris(t *testing.T) {
	const n = 200
	rec := newRecorder(true)
	s, addr := startServer(t, Config{HandshakeTimeout: 1500 * time.Millisecond}, acceptAll(rec), nil)
	base := runtime.NumGoroutine()
	var conns []*client
	for range n {
		c := rawClient(t, addr)
		c.write([]byte("GET /socket HTTP/1.1\r\nHost: x\r\nUpgr"))
		conns = append(conns, c)
	}
	eventually(t, "partial heads registered", func() bool { return s.Stats().Registered == n })
	if g := runtime.NumGoroutine(); g > base+10 {
		t.Fatalf("%d goroutines for %d partial heads (base %d)", g, n, base)
	}
	ok := dial(t, addr) // the server still serves
	ok.send(ws.OpText, []byte("alive"))
	ok.expectFrame(ws.OpText)
	for _, c := range conns {
		c.expectEOF()
	}
	eventually(t, "partial heads dropped", func() bool { return s.Stats().Registered == 1 })
}

func TestFallbackHTTP(t *testing.T) {
	fallback := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})
	rec := newRecorder(true)
	s, addr := startServer(t, Config{}, acceptAll(rec), fallback)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var reused []bool
	for i, req := range []func() (*http.Request, error){
		func() (*http.Request, error) { return http.NewRequest("GET", "http://"+addr+"/a", nil) },
		func() (*http.Request, error) {
			return http.NewRequest("POST", "http://"+addr+"/socket/longpoll", strings.NewReader("body"))
		},
		func() (*http.Request, error) { return http.NewRequest("GET", "http://"+addr+"/socket", nil) },
	} {
		r, _ := req()
		r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { reused = append(reused, ci.Reused) }}))
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := []string{"GET /a ", "POST /socket/longpoll body", "GET /socket "}[i]
		if string(b) != want {
			t.Fatalf("request %d: %q", i, b)
		}
	}
	if !slices.Equal(reused, []bool{false, true, true}) {
		t.Fatalf("keep-alive reuse %v", reused)
	}
	c := dial(t, addr) // WebSocket on the same port
	c.send(ws.OpText, []byte("ws"))
	c.expectFrame(ws.OpText)
	if st := s.Stats(); st.HandedOff != 1 || st.Registered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUpgradeHTTP(t *testing.T) {
	rec := newRecorder(true)
	up := upgraderFunc(func(r *UpgradeRequest) UpgradeResponse {
		switch r.Path {
		case "/reject":
			return UpgradeResponse{Status: 403, Header: http.Header{"X-Why": {"nope"}}, Body: []byte("forbidden")}
		}
		if !slices.Equal(r.Protocols, []string{"phoenix"}) || r.RawQuery != "vsn=2.0.0" {
			return UpgradeResponse{Status: 400}
		}
		return UpgradeResponse{Handler: rec, Protocol: "phoenix"}
	})
	s, addr := startUpgradeHTTP(t, Config{}, up)

	c := dialWith(t, ws.Dialer{Protocols: []string{"phoenix"}}, "ws://"+addr+"/ws?vsn=2.0.0")
	if c.hs.Protocol != "phoenix" {
		t.Fatalf("protocol %q", c.hs.Protocol)
	}
	c.send(ws.OpText, []byte("via net/http"))
	if p := c.expectFrame(ws.OpText); string(p) != "via net/http" {
		t.Fatalf("echo %q", p)
	}
	if s.NumConns() != 1 {
		t.Fatalf("NumConns %d", s.NumConns())
	}

	// Frames sent together with the request are buffered by net/http's
	// bufio.Reader: they must still arrive.
	raw := rawClient(t, addr)
	req := upgradeRequest("/ws?vsn=2.0.0", "Sec-WebSocket-Protocol: phoenix\r\n")
	raw.write(append([]byte(req), frame(ws.OpText, true, []byte("early"))...))
	if head := raw.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
		t.Fatalf("head %q", head)
	}
	if p := raw.expectFrame(ws.OpText); string(p) != "early" {
		t.Fatalf("echo %q", p)
	}

	resp, err := http.Get("http://" + addr + "/reject") // not an upgrade: gobwas's 400
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Fatalf("plain GET: %d %q", resp.StatusCode, b)
	}
	rq, _ := http.NewRequest("GET", "http://"+addr+"/reject", nil)
	rq.Header.Set("Upgrade", "websocket")
	rq.Header.Set("Connection", "Upgrade")
	resp, err = http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(b) != "forbidden" || resp.Header.Get("X-Why") != "nope" ||
		resp.Header.Get("Content-Type") != "" {
		t.Fatalf("reject upgrade: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestMaxConns(t *testing.T) {
	rec := newRecorder(true)
	s, addr := startServer(t, Config{MaxConns: 3}, acceptAll(rec), nil)
	var cs []*client
	for range 3 {
		cs = append(cs, dial(t, addr))
	}
	_, _, _, err := ws.Dialer{Timeout: testWait}.Dial(t.Context(), "ws://"+addr+"/x")
	if err == nil {
		t.Fatal("4th connection upgraded")
	}
	if s.Stats().Refused != 1 {
		t.Fatalf("stats %+v", s.Stats())
	}
	_ = cs[0].conn.Close()
	rec.waitClose(t)
	eventually(t, "slot freed", func() bool { return s.Stats().Registered == 2 })
	c := dial(t, addr)
	c.send(ws.OpText, []byte("in"))
	c.expectFrame(ws.OpText)
}

// TestConcurrentHandshakes runs many upgrades at once, with an Upgrader
// that blocks a little, as an auth lookup would.
func TestConcurrentHandshakes(t *testing.T) {
	rec := newRecorder(true)
	up := upgraderFunc(func(*UpgradeRequest) UpgradeResponse {
		time.Sleep(5 * time.Millisecond)
		return UpgradeResponse{Handler: rec}
	})
	s, addr := startServer(t, Config{}, up, nil)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			conn, br, _, err := ws.Dialer{Timeout: testWait}.Dial(t.Context(), "ws://"+addr+"/x")
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			c := &client{t: t, conn: conn, r: conn}
			if br != nil {
				c.r = br
			}
			msg := fmt.Appendf(nil, "m%d", i)
			if _, err := conn.Write(frame(ws.OpText, true, msg)); err != nil {
				t.Error(err)
				return
			}
			if _, p, err := c.readFrame(); err != nil || string(p) != string(msg) {
				t.Errorf("echo %q %v", p, err)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Accepted != 100 {
		t.Fatalf("stats %+v", st)
	}
}
