package phxredis

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// client opens a go-redis client for url, closed when the test ends.
func client(t testing.TB, url string, cluster bool) redis.UniversalClient {
	t.Helper()
	c, err := NewClient(url, cluster)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// node starts a PubSub on its own client of url, closed when the test
// ends.
func node(t testing.TB, url string, cluster bool, o PubSubOptions) *PubSub {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := NewPubSub(client(t, url, cluster), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// nodes starts n PubSubs on one Redis (or cluster).
func nodes(t testing.TB, url string, cluster bool, n int) []*PubSub {
	out := make([]*PubSub, n)
	for i := range out {
		out[i] = node(t, url, cluster, PubSubOptions{Node: fmt.Sprintf("n%d", i)})
	}
	return out
}

// rec is a recording Subscriber.
type rec struct {
	id  uint64
	mu  sync.Mutex
	got []*pubsub.Broadcast
	ch  chan struct{}
}

func newRec() *rec { return &rec{id: pubsub.NewSubscriberID(), ch: make(chan struct{}, 1)} }

func (r *rec) SubscriberID() uint64 { return r.id }

func (r *rec) Deliver(b *pubsub.Broadcast) {
	r.mu.Lock()
	r.got = append(r.got, b)
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *rec) payloads() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.got))
	for i, b := range r.got {
		out[i] = string(b.Payload)
	}
	return out
}

// waitFor waits until r got payload.
func (r *rec) waitFor(t testing.TB, payload string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		for _, p := range r.payloads() {
			if p == payload {
				return
			}
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("never got %s; got %q", payload, r.payloads())
		}
	}
}

func bc(topic, payload string) *pubsub.Broadcast {
	return &pubsub.Broadcast{Topic: topic, Event: "e", Payload: []byte(payload)}
}

// eventually retries cond until it holds (10s).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not true after 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// do runs a command with redis-cli on s and fails the test on error.
func do(t testing.TB, s *redistest.Server, args ...string) string {
	t.Helper()
	out, err := s.Do(args...)
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(out)
}

// logBuf collects a logger's text output.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

var bg = context.Background()

var prefixes atomic.Uint64

// uniquePrefix keeps tests sharing one Redis apart.
func uniquePrefix() string { return fmt.Sprintf("t%d", prefixes.Add(1)) }
