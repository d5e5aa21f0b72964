package compat_test

// Process and HTTP side of the contract: idle timeout, draining on SIGTERM,
// the plain HTTP endpoints and POST /api/broadcast.

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A socket that sends nothing for -idle-timeout is closed with 1001, not
// 1000, so that every phoenix.js version reconnects.
func TestWireIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-idle-timeout", "1s")
	id := uniq("idle")
	c := dialRaw(t, srv, "token=user:"+id+"&vsn=2.0.0")
	c.join("room:"+id, "1") // joined: the join deadline is not what closes it
	f, before := c.expectClose(frameWait)
	if f.Code != 1001 || len(before) != 0 {
		t.Errorf("idle socket: got %v then %s, want CLOSE 1001", before, f)
	}
}

// SIGTERM: open sockets are closed (1012 Service Restart, as Phoenix's
// drain on shutdown) and the process exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	id := uniq("drain")
	c := dialRaw(t, srv, "token=user:"+id+"&vsn=2.0.0")
	c.join("room:"+id, "1")

	stopped := make(chan error, 1)
	go func() { stopped <- srv.stopChecked() }()
	f, before := c.expectClose(stopTimeout)
	if f.Code != 1012 || len(before) != 0 {
		t.Errorf("draining: got %v then %s, want CLOSE 1012", before, f)
	}
	if err := <-stopped; err != nil {
		t.Errorf("phxd after SIGTERM: %v", err)
	}
}

// SIGTERM right after start, with no traffic at all: exit 0 (with -race:
// no data race between startup and shutdown).
func TestStopIdleServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	if err := srv.stopChecked(); err != nil {
		t.Errorf("phxd stopped right after start: %v", err)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	base := "http://" + shared.addr
	get := func(t *testing.T, path string) (int, string, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	t.Run("healthz", func(t *testing.T) {
		if code, _, body := get(t, "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
			t.Errorf("GET /healthz: %d %q, want 200 ok", code, body)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if code, _, body := get(t, "/metrics"); code != 200 || body == "" {
			t.Errorf("GET /metrics: %d, %d bytes; want 200 with Prometheus text", code, len(body))
		}
	})
	t.Run("demo page", func(t *testing.T) {
		if code, ct, _ := get(t, "/"); code != 200 || !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET /: %d %q, want 200 text/html", code, ct)
		}
	})
	t.Run("broadcast", func(t *testing.T) {
		id := uniq("api")
		topic := "room:" + id
		c := dialRaw(t, shared, "token=user:"+id+"&vsn=2.0.0")
		c.join(topic, "1")
		body := `{"topic":"` + topic + `","event":"api_evt","payload":{"from":"http","n":[1,2]}}`
		resp, err := http.Post(base+"/api/broadcast", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("POST /api/broadcast: %d, want 202", resp.StatusCode)
		}
		c.expectText(v2("null", "null", topic, "api_evt", `{"from":"http","n":[1,2]}`))
	})
	t.Run("broadcast malformed", func(t *testing.T) {
		for _, body := range []string{`not json`, `{"topic":`, `[]`} {
			resp, err := http.Post(base+"/api/broadcast", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if _, err := decodeJSON(b); resp.StatusCode != http.StatusBadRequest || err != nil {
				t.Errorf("POST /api/broadcast %q: %d %q, want 400 with a JSON error", body, resp.StatusCode, b)
			}
		}
	})
}
