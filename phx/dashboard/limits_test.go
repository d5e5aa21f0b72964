package dashboard_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/dashboard"
)

// The top tables hold at most 10 topics, and per-topic rates are kept for
// at most maxRatedTopics topics (lowered here to 3): more busy topics
// than that never grow the table of counts.
func TestTopTopicsBounded(t *testing.T) {
	t.Cleanup(dashboard.SetMaxRatedTopics(3))
	e := newEnv(t)
	c := e.dial(t, "user:many")
	const topics = 14
	for i := range topics {
		c.join(t, fmt.Sprintf("room:t%02d", i))
	}
	c.drain()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for i := range topics {
				_ = e.srv.Broadcast(fmt.Sprintf("room:t%02d", i), "tick", phx.RawJSON(`{}`))
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	defer func() { close(stop); <-done }()
	s := e.until(t, "14 topics, rates for some", func(s dashboard.Snapshot) bool {
		return s.Topics == topics && len(s.TopByRate) > 0
	})
	if len(s.TopBySubscribers) != 10 {
		t.Errorf("top by subscribers holds %d topics, want 10", len(s.TopBySubscribers))
	}
	for range 10 { // several samples: the bound holds at each
		if s := e.snapshot(t); len(s.TopByRate) > 3 {
			t.Fatalf("%d topics rated, want at most 3: %+v", len(s.TopByRate), s.TopByRate)
		}
		time.Sleep(60 * time.Millisecond)
	}
}

// The login form's body is capped: a bigger one is refused unread.
func TestLoginBodyCapped(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	e := newEnv(t, dashboard.WithKey(key))
	body := "key=" + key + "&pad=" + strings.Repeat("x", 5<<10)
	resp, err := http.Post(e.url("login"), "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(resp.Cookies()) != 0 {
		t.Errorf("a 5 KiB login form: %d, cookies %v; want 400 and none", resp.StatusCode, resp.Cookies())
	}
}

// While nobody asks for data the sampler skips the topic table and the
// presences (their cost grows with the sockets); the next request gets
// them fresh.
func TestTopicWalkOnlyWhileWatched(t *testing.T) {
	t.Cleanup(dashboard.SetWalkIdle(150 * time.Millisecond))
	e := newEnv(t)
	c := e.dial(t, "user:w")
	c.join(t, "room:w")
	if s := e.dash.Snapshot(); s.TopicsFresh || s.Channels != 0 || s.Presence != nil {
		t.Fatalf("a dashboard nobody looked at walked the topics: %+v", s)
	}
	s := e.snapshot(t) // a request: the walk starts, and this answer has it
	if !s.TopicsFresh || s.Channels != 1 || s.Presence == nil || s.Presence.Presences != 1 {
		t.Fatalf("first requested snapshot: fresh=%v channels=%d presence=%+v", s.TopicsFresh, s.Channels, s.Presence)
	}
	eventually(t, "the topic walk never stopped after the last request", func() bool { return !e.dash.Snapshot().TopicsFresh })
}

// A LongPoll session counts as a LongPoll socket, apart from WebSockets.
func TestLongPollCounted(t *testing.T) {
	e := newEnv(t)
	e.dial(t, "user:ws")
	resp, err := http.Get("http://" + e.addr + "/socket/longpoll?vsn=2.0.0&token=user:lp")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"token"`) {
		t.Fatalf("LongPoll connect: %d %s", resp.StatusCode, body)
	}
	e.until(t, "1 WebSocket and 1 LongPoll socket", func(s dashboard.Snapshot) bool {
		return s.Sockets == 2 && s.WebSockets == 1 && s.LongPolls == 1
	})
}
