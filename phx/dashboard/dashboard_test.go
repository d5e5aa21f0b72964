package dashboard_test

import (
	"encoding/json"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/dashboard"
)

// The snapshot follows real sockets, joins, presences, refusals and
// broadcasts driven over loopback WebSockets.
func TestSnapshotTracksSockets(t *testing.T) {
	e := newEnv(t)
	s := e.snapshot(t)
	if s.Sockets != 0 || s.Channels != 0 || !s.TopicsOK || s.Presence == nil || len(s.History) == 0 {
		t.Fatalf("empty server: %+v", s)
	}
	var cs []*client
	for i, topic := range []string{"room:a", "room:a", "room:a", "room:b"} {
		c := e.dial(t, "user:u"+string(rune('0'+i)))
		c.join(t, topic)
		c.drain()
		cs = append(cs, c)
	}
	e.dial(t, "nope") // refused: unauthorized
	s = e.until(t, "4 sockets, 4 channels, 4 presences, 1 refusal", func(s dashboard.Snapshot) bool {
		return s.Sockets == 4 && s.WebSockets == 4 && s.LongPolls == 0 && s.Channels == 4 &&
			s.Topics == 2 && s.Presence.Presences == 4 && s.Presence.Topics == 2 &&
			s.Rejected["unauthorized"] == 1 && s.Counters.Rejected == 1
	})
	if len(s.TopBySubscribers) != 2 || s.TopBySubscribers[0] != (dashboard.Topic{Topic: "room:a", Channels: 3, Rate: s.TopBySubscribers[0].Rate}) ||
		s.TopBySubscribers[1].Topic != "room:b" || s.TopBySubscribers[1].Channels != 1 {
		t.Errorf("top by subscribers = %+v, want room:a (3), room:b (1)", s.TopBySubscribers)
	}

	// Broadcasts to room:b only: it tops the rates, frames go out.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				_ = e.srv.Broadcast("room:b", "tick", phx.RawJSON(`{}`))
			}
		}
	})
	s = e.until(t, "room:b tops the rates", func(s dashboard.Snapshot) bool {
		return len(s.TopByRate) == 1 && s.TopByRate[0].Topic == "room:b" && s.TopByRate[0].Rate > 0 &&
			s.Sample.Out > 0 && s.Sample.Broadcasts > 0
	})
	close(stop)
	wg.Wait()
	if s.Counters.FramesIn < 4 || s.Sample.Sockets != 4 || s.Sample.RSS == 0 {
		t.Errorf("frames in %d (want ≥ 4 joins), sample %+v", s.Counters.FramesIn, s.Sample)
	}

	_ = cs[0].conn.Close()
	_ = cs[3].conn.Close()
	e.until(t, "2 sockets left", func(s dashboard.Snapshot) bool {
		return s.Sockets == 2 && s.WebSockets == 2 && s.Channels == 2 && s.Topics == 1 && s.Presence.Presences == 2
	})
}

// The history is a ring: it never holds more than WithHistory samples,
// oldest first.
func TestHistoryRing(t *testing.T) {
	e := newEnv(t, dashboard.WithHistory(5), dashboard.WithInterval(5*time.Millisecond))
	s := e.until(t, "history full", func(s dashboard.Snapshot) bool { return len(s.History) == 5 })
	time.Sleep(50 * time.Millisecond)
	s = e.snapshot(t)
	if len(s.History) != 5 {
		t.Fatalf("history holds %d samples, want 5", len(s.History))
	}
	for i := 1; i < len(s.History); i++ {
		if s.History[i].T < s.History[i-1].T {
			t.Fatalf("history out of order: %+v", s.History)
		}
	}
}

// The stream sends the snapshot with history, then live samples that
// follow the sockets, and ends at once when the Dashboard is closed.
func TestStreamUpdatesAndStopsOnClose(t *testing.T) {
	e := newEnv(t)
	st, code := openStream(t, e.url("api/stream"))
	if st == nil {
		t.Fatalf("stream: %d", code)
	}
	if ct := st.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	ev, data, err := st.next()
	var first dashboard.Snapshot
	if err != nil || ev != "snapshot" || json.Unmarshal([]byte(data), &first) != nil || len(first.History) == 0 {
		t.Fatalf("first event %q %.200s %v: want a snapshot with history", ev, data, err)
	}
	c := e.dial(t, "user:x")
	c.join(t, "room:x")
	deadline := time.Now().Add(waitFor)
	for {
		ev, data, err := st.next()
		if err != nil {
			t.Fatal(err)
		}
		var s dashboard.Snapshot
		if ev != "sample" || json.Unmarshal([]byte(data), &s) != nil || s.History != nil {
			t.Fatalf("event %q %.200s: want a sample without history", ev, data)
		}
		if s.Sockets == 1 && s.Channels == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream never showed the socket")
		}
	}
	if n := e.dash.Streams(); n != 1 {
		t.Errorf("%d streams open, want 1", n)
	}
	closed := make(chan struct{})
	go func() { _ = e.dash.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitFor):
		t.Fatal("Close did not return: a stream holds it")
	}
	for {
		if _, _, err := st.next(); err != nil {
			if err != io.EOF {
				t.Fatalf("stream ended with %v, want EOF", err)
			}
			break
		}
	}
	if n := e.dash.Streams(); n != 0 {
		t.Errorf("%d streams open after Close", n)
	}
	if _, code := openStream(t, e.url("api/stream")); code != http.StatusServiceUnavailable {
		t.Errorf("stream after Close: %d, want 503", code)
	}
	if s := e.snapshot(t); len(s.History) == 0 {
		t.Error("the snapshot is gone after Close")
	}
}

// A stream ends by itself after its lifetime (the browser reconnects).
func TestStreamLifetime(t *testing.T) {
	e := newEnv(t, dashboard.WithStreamLifetime(300*time.Millisecond))
	st, code := openStream(t, e.url("api/stream"))
	if st == nil {
		t.Fatalf("stream: %d", code)
	}
	start := time.Now()
	for {
		if _, _, err := st.next(); err != nil {
			break
		}
		if time.Since(start) > waitFor {
			t.Fatal("the stream outlived its lifetime")
		}
	}
	eventually(t, "the ended stream still holds its slot", func() bool { return e.dash.Streams() == 0 })
}

// An attack opening far more streams than allowed: the extra ones get 503
// at once, the goroutines stay bounded, and a freed slot serves again.
func TestStreamCap(t *testing.T) {
	const limit, attack = 3, 60
	e := newEnv(t, dashboard.WithMaxStreams(limit))
	var held []*sse
	for range limit {
		st, code := openStream(t, e.url("api/stream"))
		if st == nil {
			t.Fatalf("stream within the cap: %d", code)
		}
		if ev, _, err := st.next(); err != nil || ev != "snapshot" {
			t.Fatalf("first event %q %v", ev, err)
		}
		held = append(held, st)
	}
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range attack {
		wg.Go(func() {
			resp, err := http.Get(e.url("api/stream"))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusServiceUnavailable] != attack {
		t.Errorf("over the cap: %v, want %d × 503", codes, attack)
	}
	if n := e.dash.Streams(); n != limit {
		t.Errorf("%d streams open, want %d", n, limit)
	}
	// The refused requests hold nothing: the goroutine count is back near
	// what the held streams cost (generous slack for idle keep-alive
	// connections of the client and server).
	// Server goroutines of closed keep-alive connections end when they
	// see the close: wait for them (a leak would never end), but no
	// longer than waitFor.
	settle := time.Now().Add(waitFor)
	g := runtime.NumGoroutine()
	for g > base+2*attack/3 && time.Now().Before(settle) {
		time.Sleep(10 * time.Millisecond)
		g = runtime.NumGoroutine()
	}
	if g > base+2*attack/3 {
		t.Errorf("goroutines %d after the attack, %d before", g, base)
	}
	held[0].resp.Body.Close()
	eventually(t, "a closed stream's slot was never freed", func() bool {
		st, _ := openStream(t, e.url("api/stream"))
		return st != nil
	})
}

// With a key, everything but the static files and the login form needs
// it; wrong keys are refused; the login cookie is not the key.
func TestKey(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	e := newEnv(t, dashboard.WithKey(key))
	for _, p := range []string{"", "api/snapshot", "api/stream"} {
		if code, _ := get(t, e.url(p)); code != http.StatusUnauthorized {
			t.Errorf("%s without key: %d, want 401", p, code)
		}
		for _, bad := range []string{"Bearer nope", "Bearer " + key + "x", "Bearer " + key[:31], key} {
			if code, _ := get(t, e.url(p), "Authorization", bad); code != http.StatusUnauthorized {
				t.Errorf("%s with Authorization %q: %d, want 401", p, bad, code)
			}
		}
		if code, _ := get(t, e.url(p), "Cookie", "phxgo_dashboard="+key); code != http.StatusUnauthorized {
			t.Errorf("%s with the key as cookie: %d, want 401", p, code)
		}
	}
	if code, body := get(t, e.url("")); !strings.Contains(body, `name="key"`) || code != http.StatusUnauthorized {
		t.Errorf("the page without key is not the login form: %d %.200s", code, body)
	}
	if code, _ := get(t, e.url("app.js")); code != http.StatusOK {
		t.Errorf("app.js without key: %d", code)
	}
	if code, body := get(t, e.url("api/snapshot"), "Authorization", "Bearer "+key); code != http.StatusOK ||
		!strings.Contains(body, `"sockets"`) {
		t.Errorf("snapshot with the key: %d %.100s", code, body)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(k string) *http.Response {
		resp, err := noRedirect.PostForm(e.url("login"), map[string][]string{"key": {k}})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := login("wrong"); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("login with a wrong key: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	resp := login(key)
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	ck := resp.Cookies()[0]
	if strings.Contains(ck.Value, key) || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/dashboard/" {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path /dashboard/, not the key", ck)
	}
	if code, _ := get(t, e.url("api/snapshot"), "Cookie", ck.Name+"="+ck.Value); code != http.StatusOK {
		t.Errorf("snapshot with the login cookie: %d", code)
	}
	if code, body := get(t, e.url(""), "Cookie", ck.Name+"="+ck.Value); code != http.StatusOK || !strings.Contains(body, `id="sockets"`) {
		t.Errorf("page with the login cookie: %d %.100s", code, body)
	}
}

// LoopbackOnly refuses a request naming another host (DNS rebinding).
func TestLoopbackOnly(t *testing.T) {
	e := newEnv(t, dashboard.LoopbackOnly())
	if code, _ := get(t, e.url("api/snapshot")); code != http.StatusOK {
		t.Errorf("loopback request: %d", code)
	}
	for _, host := range []string{"evil.example", "evil.example:4000", "10.0.0.1"} {
		req, _ := http.NewRequest(http.MethodGet, e.url("api/snapshot"), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host %s: %d, want 403", host, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "/dashboard/api/snapshot", nil)
	req.RemoteAddr, req.Host = "192.0.2.1:5000", "127.0.0.1:4000"
	rec := &recorder{h: http.Header{}}
	e.dash.ServeHTTP(rec, req)
	if rec.code != http.StatusForbidden {
		t.Errorf("remote peer: %d, want 403", rec.code)
	}
}

// The page is served with the socket count element and a strict CSP.
func TestPage(t *testing.T) {
	e := newEnv(t)
	code, body := get(t, e.url(""))
	if code != http.StatusOK || !strings.Contains(body, `id="sockets"`) || strings.Contains(body, "http") {
		t.Errorf("page: %d, want #sockets and no external URL:\n%s", code, body)
	}
	for _, f := range []string{"app.js", "app.css"} {
		if code, body := get(t, e.url(f)); code != http.StatusOK || len(body) < 500 || strings.Contains(body, "https://") {
			t.Errorf("%s: %d, %d bytes", f, code, len(body))
		}
	}
	if code, _ := get(t, e.url("nothing")); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(code int)        { r.code = code }
