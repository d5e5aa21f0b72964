package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/serializer"
)

// fakeLP is a minimal LongPoll server (Phoenix's HTTP poll transport) with the bench:*
// contract of fakeServer: join ok, echo, new_msg broadcast, leave.
type fakeLP struct {
	srv      *httptest.Server
	window   time.Duration
	mu       sync.Mutex
	sessions map[string]*fakeLPSession
	chans    fakeChannels[*fakeLPSession]
	posts    int
	lines    int
}

type fakeLPSession struct {
	user   string
	mu     sync.Mutex
	buf    []string
	notify chan struct{}
}

func startFakeLP(t *testing.T) *fakeLP {
	t.Helper()
	s := &fakeLP{window: 300 * time.Millisecond, sessions: map[string]*fakeLPSession{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *fakeLP) url() string { return s.srv.URL + "/socket/longpoll" }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *fakeLP) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/socket/longpoll" || r.URL.Query().Get("vsn") != "2.0.0" {
		http.Error(w, "bad path or vsn", http.StatusBadRequest)
		return
	}
	token := r.Header.Get("X-Phoenix-Longpoll-Token")
	s.mu.Lock()
	sess := s.sessions[token]
	s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		if sess == nil {
			var b [16]byte
			_, _ = rand.Read(b[:])
			token = hex.EncodeToString(b[:])
			sess = &fakeLPSession{user: r.URL.Query().Get("token"), notify: make(chan struct{}, 1)}
			s.mu.Lock()
			s.sessions[token] = sess
			s.mu.Unlock()
			writeJSON(w, map[string]any{"status": 410, "token": token, "messages": []string{}})
			return
		}
		t := time.NewTimer(s.window)
		defer t.Stop()
		for {
			sess.mu.Lock()
			msgs := sess.buf
			sess.buf = nil
			sess.mu.Unlock()
			if len(msgs) > 0 {
				writeJSON(w, map[string]any{"status": 200, "token": token, "messages": msgs})
				return
			}
			select {
			case <-sess.notify:
			case <-t.C:
				writeJSON(w, map[string]any{"status": 204, "token": token, "messages": []string{}})
				return
			case <-r.Context().Done():
				return
			}
		}
	case http.MethodPost:
		if sess == nil {
			writeJSON(w, map[string]any{"status": 410})
			return
		}
		if r.Header.Get("Content-Type") != "application/x-ndjson" {
			http.Error(w, "content type", http.StatusBadRequest)
			return
		}
		sc := bufio.NewScanner(r.Body)
		n := 0
		for sc.Scan() {
			n++
			m, err := serializer.Decode(serializer.V2, bytes.Clone(sc.Bytes()), false)
			if err != nil || n > 100 {
				http.Error(w, "bad line", http.StatusBadRequest)
				return
			}
			if m.Event == "forget" { // the session disappears
				s.mu.Lock()
				delete(s.sessions, token)
				s.mu.Unlock()
				writeJSON(w, map[string]any{"status": 410})
				return
			}
			s.chans.handle(sess, &m)
		}
		s.mu.Lock()
		s.posts++
		s.lines += n
		s.mu.Unlock()
		writeJSON(w, map[string]any{"status": 200})
	default:
		http.Error(w, "", http.StatusBadRequest)
	}
}

func (sess *fakeLPSession) userID() string { return sess.user }

func (sess *fakeLPSession) send(m *serializer.Message) {
	frame, _, err := serializer.Encode(serializer.V2, nil, m)
	if err != nil {
		return
	}
	sess.mu.Lock()
	sess.buf = append(sess.buf, string(frame))
	sess.mu.Unlock()
	select {
	case sess.notify <- struct{}{}:
	default:
	}
}

// TestLongPoll runs the chat scenario (join, echo, barrier, broadcast,
// leave) over LongPoll against the fake server, with the -transport
// override as resolve applies it.
func TestLongPoll(t *testing.T) {
	s := startFakeLP(t)
	const n, msgs = 20, 10
	js := chatScenario(s.url(), "2.0.0", n, msgs)
	js = strings.Replace(js, `"duration"`, `"transport": "longpoll", "heartbeat": "200ms", "duration"`, 1)
	r := runJSON(t, js, engine.RunOptions{})
	checkChat(t, r, n, msgs)
	if r.Latency["heartbeat"].Count == 0 {
		t.Errorf("no heartbeat replies")
	}
	s.mu.Lock()
	posts, lines := s.posts, s.lines
	s.mu.Unlock()
	if posts == 0 || lines < (n+1)+3*n+msgs {
		t.Errorf("server saw %d POSTs with %d lines", posts, lines)
	}
}

// TestLongPollWSURL: a ws://…/websocket URL is switched to the LongPoll
// endpoint of the same host.
func TestLongPollWSURL(t *testing.T) {
	s := startFakeLP(t)
	url := "ws://" + strings.TrimPrefix(s.srv.URL, "http://") + "/socket/websocket"
	js := fmt.Sprintf(`{"url": %q, "transport": "longpoll", "duration": "10s", "drain": "1s",
	  "groups": [{"name": "e", "count": 5, "steps": [{"join": "bench:e"},
	    {"repeat": 5, "steps": [{"push": "echo", "payload": {"x": "{{seq}}"}}]}]}]}`, url)
	r := runJSON(t, js, engine.RunOptions{})
	check.Eq(t, "joined", r.Counters.Joined, int64(5))
	check.Eq(t, "replies", r.Counters.Replies, int64(25))
	if !r.OK || len(r.Errors) != 0 {
		t.Errorf("errors %v checks %+v", r.Errors, r.Checks)
	}
}

// TestLongPollFailures: a session that disappears is reported as
// session_gone; a server that is not there fails the connects.
func TestLongPollFailures(t *testing.T) {
	s := startFakeLP(t)
	js := fmt.Sprintf(`{"url": %q, "transport": "longpoll", "duration": "5s", "drain": "1s",
	  "groups": [{"name": "e", "count": 3, "steps": [{"join": "bench:e"}, {"push": "forget"}]}]}`, s.url())
	r := runJSON(t, js, engine.RunOptions{})
	if r.Errors["session_gone"] != 3 {
		t.Errorf("errors %v, want 3 session_gone", r.Errors)
	}
	s.srv.Close()
	r = runJSON(t, js, engine.RunOptions{})
	check.Eq(t, "connect failed", r.Counters.ConnectFailed, int64(3))
}

func TestLongPollRejectsBinary(t *testing.T) {
	js := `{"url": "http://127.0.0.1:1/socket/longpoll", "transport": "longpoll", "duration": "5s",
	  "groups": [{"name": "e", "count": 1, "steps": [{"join": "bench:e"}, {"push": "echo", "binary": true, "payload": "x"}]}]}`
	_, err := scenario.ParseScenario(strings.NewReader(js))
	if err == nil || !strings.Contains(err.Error(), "longpoll") {
		t.Fatalf("err = %v, want a longpoll binary error", err)
	}
}
