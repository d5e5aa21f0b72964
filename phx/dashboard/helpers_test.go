package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/dashboard"
	"github.com/phxgo/phxgo/phx/presence"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor bounds every wait for the dashboard to catch up (generous: the
// machine may be loaded).
const waitFor = 20 * time.Second

// env is a phx.Server on a loopback listener with the dashboard at
// /dashboard/ of the same listener, as phxd mounts it.
type env struct {
	srv  *phx.Server
	pres *presence.Presence
	dash *dashboard.Dashboard
	addr string
}

// room joins anyone and tracks them in Presence under their user id.
type room struct{ pres *presence.Presence }

func (room) Join(*phx.Channel, phx.Payload) (any, error) { return nil, nil }
func (r room) AfterJoin(c *phx.Channel) {
	_ = r.pres.Track(c, c.Assigns().String("user"), map[string]any{})
}
func (room) HandleIn(c *phx.Channel, m *phx.InMessage) (any, error) { return phx.Empty, nil }

func newEnv(t *testing.T, opts ...dashboard.Option) *env {
	t.Helper()
	srv := phx.NewServer(phx.Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Connect: func(_ context.Context, c *phx.ConnectInfo) (phx.Assigns, error) {
			if u, ok := strings.CutPrefix(c.Params.Get("token"), "user:"); ok {
				return phx.NewAssigns("user", u), nil
			}
			return phx.Assigns{}, &phx.ConnectError{Code: phx.CloseUnauthorized, Reason: "unauthorized"}
		},
		RejectBrake: -1,
	})
	pres, err := presence.New(srv, presence.Config{DiffWindow: -1, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv.Channel("room:*", room{pres: pres})
	opts = append([]dashboard.Option{dashboard.WithPresence(pres), dashboard.WithInterval(50 * time.Millisecond)}, opts...)
	dash := dashboard.New(srv, opts...)
	mux := http.NewServeMux()
	mux.Handle("/dashboard/", dash)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln, mux) }()
	t.Cleanup(func() {
		_ = dash.Close()
		_ = srv.Close()
		<-served
		_ = pres.Close()
	})
	return &env{srv: srv, pres: pres, dash: dash, addr: ln.Addr().String()}
}

func (e *env) url(p string) string { return "http://" + e.addr + "/dashboard/" + p }

// client is a WebSocket speaking the V2 protocol.
type client struct {
	conn net.Conn
	ref  int
}

// dial connects with token; a refused connect returns the client anyway
// (the refusal arrives as a frame).
func (e *env) dial(t *testing.T, token string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws://"+e.addr+"/socket/websocket?vsn=2.0.0&token="+token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &client{conn: conn}
}

// send writes one frame and, for a join, waits for its reply.
func (c *client) join(t *testing.T, topic string) {
	t.Helper()
	c.ref++
	frame := fmt.Sprintf(`["%d","%d",%q,"phx_join",{}]`, c.ref, c.ref, topic)
	if err := wsutil.WriteClientText(c.conn, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(waitFor))
	for {
		msg, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			t.Fatalf("join %s: %v", topic, err)
		}
		if strings.Contains(string(msg), `"phx_reply"`) && strings.Contains(string(msg), topic) {
			if !strings.Contains(string(msg), `"ok"`) {
				t.Fatalf("join %s refused: %s", topic, msg)
			}
			return
		}
	}
}

// drain reads and drops the client's frames until it is closed, so that
// broadcasts never back up.
func (c *client) drain() {
	go func() {
		for {
			_ = c.conn.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := wsutil.ReadServerText(c.conn); err != nil {
				return
			}
		}
	}()
}

// get fetches a URL with optional headers and returns status and body.
func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) snapshot(t *testing.T) dashboard.Snapshot {
	t.Helper()
	code, body := get(t, e.url("api/snapshot"))
	if code != http.StatusOK {
		t.Fatalf("snapshot: %d %s", code, body)
	}
	var s dashboard.Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("snapshot: %v in %s", err, body)
	}
	return s
}

// eventually polls ok until it holds, and fails the test with what when
// it still does not after waitFor.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// until polls the snapshot until ok accepts it or waitFor passes.
func (e *env) until(t *testing.T, what string, ok func(dashboard.Snapshot) bool) dashboard.Snapshot {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		s := e.snapshot(t)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			s.History = s.History[max(0, len(s.History)-3):]
			b, _ := json.Marshal(s)
			t.Fatalf("%s: not within %v; last snapshot %s", what, waitFor, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sse reads one Server-Sent Events stream.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

func openStream(t *testing.T, url string) (*sse, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{resp: resp, r: bufio.NewReader(resp.Body)}, resp.StatusCode
}

// next returns the next event's name and data, or io.EOF when the stream
// ended.
func (s *sse) next() (event, data string, err error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = io.EOF
			}
			return "", "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && event != "":
			return event, data, nil
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
}
