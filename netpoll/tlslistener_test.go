package netpoll

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// mountTLS runs an https http.Server (the app's) whose mux hands
// /socket to s.UpgradeHTTP, over TLSListener when wrap is set.
func mountTLS(t *testing.T, s *Server, up Upgrader, wrap bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/socket", func(w http.ResponseWriter, r *http.Request) { s.UpgradeHTTP(w, r, up) })
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	hs := &http.Server{Handler: mux, ErrorLog: nil}
	served := make(chan error, 1)
	if wrap {
		go func() { served <- hs.Serve(TLSListener(ln, serverTLSConfig())) }()
	} else {
		hs.TLSConfig = serverTLSConfig()
		go func() { served <- hs.ServeTLS(ln, "", "") }()
	}
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// startMounted is an echoing Server (config cfg, upgrades only through
// net/http) mounted on an https server by mountTLS: the Server and the
// https address.
func startMounted(t *testing.T, cfg Config, wrap bool) (*Server, string) {
	t.Helper()
	rec := newRecorder(true)
	s, _ := startServer(t, cfg, acceptAll(rec), nil)
	return s, mountTLS(t, s, acceptAll(rec), wrap)
}

func TestTLSListenerUpgrade(t *testing.T) {
	s, addr := startMounted(t, Config{}, true)
	c := dialTLS(t, addr)
	for _, n := range []int{3, 20 << 10, 100 << 10} {
		p := bytes.Repeat([]byte{'m'}, n)
		c.expectEcho(ws.OpBinary, p)
	}
	if s.Stats().Accepted != 1 {
		t.Fatalf("the event loop adopted %d connections, want 1", s.Stats().Accepted)
	}
}

// A keep-alive request first (records counted on both sides), then the
// upgrade and a large first frame sent along with it in one write: part
// of it is still inside crypto/tls when the connection is hijacked.
func TestTLSListenerKeepAliveThenUpgrade(t *testing.T) {
	_, addr := startMounted(t, Config{}, true)
	cfg := clientTLSConfig()
	cfg.DynamicRecordSizingDisabled = true // the upgrade and the frame in one record
	tc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	br := bufio.NewReader(tc)
	if _, err := io.WriteString(tc, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "hello" {
		t.Fatalf("GET /hello: %q", b)
	}
	first := bytes.Repeat([]byte("f"), 15<<10)
	if _, err := tc.Write(append([]byte(upgradeRequest("/socket")), frame(ws.OpText, true, first)...)); err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: tc, r: br}
	if head := c.readHead(); !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("upgrade: %q", head)
	}
	if got := c.expectFrame(ws.OpText); !bytes.Equal(got, first) {
		t.Fatalf("first frame: %d bytes, want %d", len(got), len(first))
	}
	c.send(ws.OpText, []byte("second"))
	if got := c.expectFrame(ws.OpText); string(got) != "second" {
		t.Fatalf("second: %q", got)
	}
}

// Without the wrapper the upgrade is refused with an error naming it.
func TestTLSListenerMissing(t *testing.T) {
	_, addr := startMounted(t, Config{}, false)
	_, _, _, err := ws.Dialer{TLSConfig: clientTLSConfig(), Timeout: testWait}.Dial(t.Context(), "wss://"+addr+"/socket")
	if err == nil {
		t.Fatal("upgrade over crypto/tls accepted without TLSListener")
	}
	tc := tlsRaw(t, addr)
	io.WriteString(tc, upgradeRequest("/socket"))
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(b), "TLSListener") {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}
