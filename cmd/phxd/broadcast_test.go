package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
)

const testKey = "k3y-for-tests-0123456789abcdef"

// recorder is a PubSub subscriber that keeps what it receives.
type recorder struct {
	id  uint64
	mu  sync.Mutex
	got []*phx.Broadcast
}

func (r *recorder) SubscriberID() uint64 { return r.id }
func (r *recorder) Deliver(b *phx.Broadcast) {
	r.mu.Lock()
	r.got = append(r.got, b)
	r.mu.Unlock()
}

func (r *recorder) take() []*phx.Broadcast {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// apiServer serves newMux with apiKey; rec sees every broadcast on room:t.
func apiServer(t *testing.T, apiKey string) (*httptest.Server, *recorder) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ps := pubsub.NewMemory()
	rec := &recorder{id: pubsub.NewSubscriberID()}
	ps.Subscribe("room:t", rec)
	ps.Subscribe("phoenix", rec)
	srv := phx.NewServer(phx.Config{PubSub: ps, Logger: log})
	t.Cleanup(func() { _ = srv.Close() })
	hs := httptest.NewServer(newMux(srv, log, "", apiKey))
	t.Cleanup(hs.Close)
	return hs, rec
}

type apiCall struct {
	auth        string // Authorization header, "" for none
	contentType string
	body        string
	chunked     bool // no Content-Length
}

// post sends the call and returns the status and the decoded JSON body
// (a test failure when the body is not a JSON object).
func post(t *testing.T, hs *httptest.Server, c apiCall) (int, map[string]any, http.Header) {
	t.Helper()
	var body io.Reader = strings.NewReader(c.body)
	if c.chunked {
		body = io.MultiReader(body) // hides the length: sent chunked
	}
	req, err := http.NewRequest(http.MethodPost, hs.URL+"/api/broadcast", body)
	if err != nil {
		t.Fatal(err)
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if resp.StatusCode != http.StatusNotFound {
		if err := json.Unmarshal(b, &v); err != nil || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("status %d: body %q (%s) is not a JSON object", resp.StatusCode, b, resp.Header.Get("Content-Type"))
		}
	}
	return resp.StatusCode, v, resp.Header
}

const okBody = `{"topic":"room:t","event":"api_evt","payload":{"n":1}}`

// expectNone fails when the endpoint published anything.
func expectNone(t *testing.T, rec *recorder, what string) {
	t.Helper()
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("%s: %d broadcast(s) published, want none (first %s %s)", what, len(got), got[0].Event, got[0].Payload)
	}
}

func TestBroadcastAccepted(t *testing.T) {
	hs, rec := apiServer(t, testKey)
	for _, tc := range []struct {
		name, auth, ct, body, payload string
	}{
		{"json", "Bearer " + testKey, "application/json", okBody, `{"n":1}`},
		{"charset param", "Bearer " + testKey, "application/json; charset=utf-8", okBody, `{"n":1}`},
		{"scheme case", "bearer " + testKey, "Application/JSON", okBody, `{"n":1}`},
		{"no payload", "Bearer " + testKey, "application/json", `{"topic":"room:t","event":"api_evt"}`, `{}`},
		{"null payload", "Bearer " + testKey, "application/json", `{"topic":"room:t","event":"api_evt","payload":null}`, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, v, _ := post(t, hs, apiCall{auth: tc.auth, contentType: tc.ct, body: tc.body})
			if status != http.StatusAccepted || v["status"] != "accepted" {
				t.Fatalf("status %d %v, want 202 accepted", status, v)
			}
			got := rec.take()
			if len(got) != 1 || got[0].Topic != "room:t" || got[0].Event != "api_evt" || string(got[0].Payload) != tc.payload {
				t.Fatalf("published %+v, want one api_evt %s on room:t", got, tc.payload)
			}
		})
	}
}

// Without PHXD_API_KEY the endpoint does not exist, whatever is sent.
func TestBroadcastOffWithoutKey(t *testing.T) {
	hs, rec := apiServer(t, "")
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		status, _, _ := post(t, hs, apiCall{auth: auth, contentType: "application/json", body: okBody})
		if status != http.StatusNotFound {
			t.Fatalf("auth %q: status %d, want 404", auth, status)
		}
	}
	expectNone(t, rec, "endpoint off")
}

func TestBroadcastUnauthorized(t *testing.T) {
	hs, rec := apiServer(t, testKey)
	for _, auth := range []string{
		"",                                   // none
		"Bearer",                             // no credential
		"Bearer ",                            // empty credential
		"Bearer " + testKey[:len(testKey)-1], // a prefix
		"Bearer " + testKey + "x",            // longer
		"Bearer " + strings.ToUpper(testKey), // keys are case-sensitive
		"Basic " + testKey,                   // another scheme
		testKey,                              // no scheme
	} {
		status, v, h := post(t, hs, apiCall{auth: auth, contentType: "application/json", body: okBody})
		if status != http.StatusUnauthorized || v["error"] == nil || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("auth %q: status %d %v %q, want 401 with a JSON error and WWW-Authenticate", auth, status, v, h.Get("WWW-Authenticate"))
		}
	}
	expectNone(t, rec, "unauthorized")
}

// A web page on any site can POST text/plain or a form without a CORS
// preflight, but cannot add an Authorization header: 401 before anything
// else. With the key (a leaked key, or a same-origin page), a body that is
// not declared JSON is still refused: 415.
func TestBroadcastCrossSite(t *testing.T) {
	hs, rec := apiServer(t, testKey)
	forged := `{"topic":"room:t","event":"api_evt","payload":{}}`
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		if status, v, _ := post(t, hs, apiCall{contentType: ct, body: forged}); status != http.StatusUnauthorized || v["error"] == nil {
			t.Fatalf("cross-site %s POST: status %d %v, want 401", ct, status, v)
		}
	}
	for _, ct := range []string{"", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
		"multipart/form-data; boundary=x", "application/jsonx", "application/json-seq", "json", "application/json;;"} {
		status, v, _ := post(t, hs, apiCall{auth: "Bearer " + testKey, contentType: ct, body: forged})
		if status != http.StatusUnsupportedMediaType || v["error"] == nil {
			t.Fatalf("Content-Type %q: status %d %v, want 415 with a JSON error", ct, status, v)
		}
	}
	expectNone(t, rec, "cross-site")
}

// The body is capped at maxBroadcastBody: exactly that much is served, one
// byte more is 413, declared or streamed.
func TestBroadcastBodyLimit(t *testing.T) {
	hs, rec := apiServer(t, testKey)
	sized := func(n int) string {
		head, tail := `{"topic":"room:t","event":"api_evt","payload":{"pad":"`, `"}}`
		return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
	}
	auth := "Bearer " + testKey
	if status, v, _ := post(t, hs, apiCall{auth: auth, contentType: "application/json", body: sized(maxBroadcastBody)}); status != http.StatusAccepted {
		t.Fatalf("body of exactly %d bytes: status %d %v, want 202", maxBroadcastBody, status, v)
	}
	if got := rec.take(); len(got) != 1 {
		t.Fatalf("%d broadcasts for the largest body, want 1", len(got))
	}
	for _, chunked := range []bool{false, true} {
		status, v, _ := post(t, hs, apiCall{auth: auth, contentType: "application/json", body: sized(maxBroadcastBody + 1), chunked: chunked})
		if status != http.StatusRequestEntityTooLarge || v["error"] == nil {
			t.Fatalf("body of %d bytes (chunked %v): status %d %v, want 413", maxBroadcastBody+1, chunked, status, v)
		}
	}
	expectNone(t, rec, "oversized")
}

func TestBroadcastBadRequest(t *testing.T) {
	hs, rec := apiServer(t, testKey)
	for _, body := range []string{
		``, `not json`, `{"topic":`, `[]`, `null`, `"room:t"`,
		okBody + ` x`, // trailing data
		`{"event":"api_evt","payload":{}}`,
		`{"topic":"","event":"api_evt","payload":{}}`,
		`{"topic":"room:t","payload":{}}`,
		`{"topic":"room:t","event":"","payload":{}}`,
		`{"topic":7,"event":"api_evt","payload":{}}`,
		`{"topic":"room:t","event":["x"],"payload":{}}`,
		`{"topic":"room:t","event":"api_evt","payload":[1]}`,
		`{"topic":"room:t","event":"api_evt","payload":"s"}`,
		`{"topic":"room:t","event":"api_evt","payload":{"a":}}`,
		// events a client could not tell from the server's own
		`{"topic":"room:t","event":"phx_close","payload":{}}`,
		`{"topic":"room:t","event":"phx_error","payload":{}}`,
		`{"topic":"room:t","event":"phx_reply","payload":{"status":"ok","response":{}}}`,
		`{"topic":"room:t","event":"phx_join","payload":{}}`,
		`{"topic":"room:t","event":"phx_anything","payload":{}}`,
		`{"topic":"room:t","event":"presence_state","payload":{}}`,
		`{"topic":"room:t","event":"presence_diff","payload":{"joins":{},"leaves":{}}}`,
		`{"topic":"phoenix","event":"api_evt","payload":{}}`,
	} {
		status, v, _ := post(t, hs, apiCall{auth: "Bearer " + testKey, contentType: "application/json", body: body})
		if status != http.StatusBadRequest || v["error"] == nil {
			t.Fatalf("body %q: status %d %v, want 400 with a JSON error", body, status, v)
		}
	}
	expectNone(t, rec, "bad request")
}

// A long topic or event is clipped in the log line, not written whole.
func TestBroadcastLogClipped(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	if got := clip(long); len(got) > maxLogged+32 || !strings.HasSuffix(got, "…(100000 bytes)") {
		t.Fatalf("clip: %d bytes %q…", len(got), got[:min(len(got), 40)])
	}
	if got := clip("room:t"); got != "room:t" {
		t.Fatalf("clip(short) = %q", got)
	}
	if got := clip("a" + strings.Repeat("é", 100)); !utf8.ValidString(got) {
		t.Fatalf("clip cut a rune: %q", got)
	}
}
