package compat_test

// Process and HTTP side of the contract: idle timeout, draining on SIGTERM,
// the plain HTTP endpoints and POST /api/broadcast.

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// apiKey is the PHXD_API_KEY every phxd of the suite runs with (see
// launch): POST /api/broadcast needs it as a bearer key.
const apiKey = "compat-test-api-key-5f2c9a7e"

// postBroadcast sends POST /api/broadcast with the key and a JSON body.
func postBroadcast(t *testing.T, srv *phxd, body string) (*http.Response, []byte) {
	t.Helper()
	return postBroadcastAs(t, srv, "Bearer "+apiKey, "application/json", body)
}

// postBroadcastAs sends POST /api/broadcast with this Authorization ("" for
// none) and Content-Type, and returns the response with its body read.
func postBroadcastAs(t *testing.T, srv *phxd, auth, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+srv.addr+"/api/broadcast", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /api/broadcast: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

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
		if resp, b := postBroadcast(t, shared, body); resp.StatusCode != http.StatusAccepted {
			t.Errorf("POST /api/broadcast: %d %q, want 202", resp.StatusCode, b)
		}
		c.expectText(v2("null", "null", topic, "api_evt", `{"from":"http","n":[1,2]}`))
	})
	t.Run("broadcast malformed", func(t *testing.T) {
		for _, body := range []string{`not json`, `{"topic":`, `[]`} {
			resp, b := postBroadcast(t, shared, body)
			if _, err := decodeJSON(b); resp.StatusCode != http.StatusBadRequest || err != nil {
				t.Errorf("POST /api/broadcast %q: %d %q, want 400 with a JSON error", body, resp.StatusCode, b)
			}
		}
	})
	// The endpoint is for servers only: a web page on another site can
	// POST text/plain without a preflight but cannot send the key. Neither
	// that nor a forged phx_close with the key reaches a subscriber.
	t.Run("broadcast refused", func(t *testing.T) {
		id := uniq("apix")
		topic := "room:" + id
		c := dialRaw(t, shared, "token=user:"+id+"&vsn=2.0.0")
		c.join(topic, "1")
		forged := `{"topic":"` + topic + `","event":"phx_close","payload":{}}`
		plain := `{"topic":"` + topic + `","event":"api_evt","payload":{}}`
		for _, tc := range []struct {
			auth, contentType, body string
			status                  int
		}{
			{"", "text/plain;charset=UTF-8", plain, http.StatusUnauthorized},
			{"Bearer wrong-key", "application/json", plain, http.StatusUnauthorized},
			{"Bearer " + apiKey, "text/plain", plain, http.StatusUnsupportedMediaType},
			{"Bearer " + apiKey, "application/json", forged, http.StatusBadRequest},
		} {
			resp, b := postBroadcastAs(t, shared, tc.auth, tc.contentType, tc.body)
			if _, err := decodeJSON(b); resp.StatusCode != tc.status || err != nil {
				t.Errorf("POST /api/broadcast (auth %q, %s, %s): %d %q, want %d with a JSON error",
					tc.auth, tc.contentType, tc.body, resp.StatusCode, b, tc.status)
			}
		}
		c.expectSilence(quietWait)
	})
}
