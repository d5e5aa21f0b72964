package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// syncBuffer is a log sink read while the server writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startClusterNode runs phxd's server on Redis in this process (as run
// does, without signals) and returns its address.
func startClusterNode(t *testing.T, logw io.Writer, args ...string) string {
	t.Helper()
	o, err := parseFlags(append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	cl, err := openCluster(o, log)
	if err != nil {
		t.Fatal(err)
	}
	srv, pres, err := newServer(o, log, cl)
	if err != nil {
		_ = cl.close()
		t.Fatalf("a node must start whether Redis answers or not: %v", err)
	}
	cl.watch(o.presenceBeat)
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- srv.Serve(ln, newMux(srv, log, o.phoenixJS, "", newClusterCollector(cl.stats)))
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
		cl.unwatch()
		_ = pres.Close()
		if err := cl.close(); err != nil {
			t.Errorf("cluster close: %v", err)
		}
	})
	return ln.Addr().String()
}

// waitFor polls cond (a scrape or a Redis read: nothing to wait on)
// until it holds, failing after 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func metricsText(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return "\n" + string(b)
}

// TestNodeStartsDuringOutage: with Redis down, phxd starts, says so, and
// serves its own clients (join, presence, chat); when Redis comes up the
// node registers there, its presence included, and /metrics shows it.
func TestNodeStartsDuringOutage(t *testing.T) {
	redis := redistest.NewServer(t)
	redis.Stop()
	var logs syncBuffer
	addr := startClusterNode(t, &logs, "-redis", redis.URL(), "-node", "lonely",
		"-presence-heartbeat", "100ms", "-presence-node-timeout", "1s")
	if !strings.Contains(logs.String(), "Redis unreachable at start") {
		t.Errorf("no outage logged at start:\n%s", logs.String())
	}
	if m := metricsText(addr); !strings.Contains(m, "\nphxgo_redis_connected 0\n") {
		t.Errorf("/metrics during the outage:%s", m)
	}

	conn := dialSocket(t, addr) // user t
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	send := func(frame string) {
		if err := wsutil.WriteClientText(conn, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	await := func(what, fragment string) {
		t.Helper()
		for {
			msg, err := wsutil.ReadServerText(conn)
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if strings.Contains(string(msg), fragment) {
				return
			}
		}
	}
	send(`["1","1","room:lonely","phx_join",{}]`)
	await("the join reply", `"1","1","room:lonely","phx_reply",{"response":{},"status":"ok"}`)
	send(`["1","2","room:lonely","new_msg",{"body":"alone"}]`)
	await("the local broadcast", `"new_msg",{"body":"alone","user":"t"}`)

	redis.Restart()
	waitFor(t, "phxgo_redis_connected 1", func() bool {
		return strings.Contains(metricsText(addr), "\nphxgo_redis_connected 1\n")
	})
	waitFor(t, "the node's presence stored in Redis", func() bool {
		keys, err := redis.Do("--scan")
		return err == nil && strings.Contains(keys, "lonely") && strings.Contains(keys, "room:lonely")
	})
	m := metricsText(addr)
	// Two topics: the room and the socket's id (users_socket:t, for kick_me).
	for _, want := range []string{"\nphxgo_redis_subscribed_topics 2\n", "\nphxgo_redis_presence_store_errors_total "} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:%s", want, m)
		}
	}
	if strings.Contains(m, "\nphxgo_redis_presence_store_errors_total 0\n") {
		t.Errorf("the store failed at start, yet no error is counted:%s", m)
	}
}

// TestWatchOutages: a resync after each return of the connection, and
// one more two intervals later; none while it stays up or down.
func TestWatchOutages(t *testing.T) {
	script := []bool{true, true, false, false, true, true, true, true, false, true, true, true}
	var mu sync.Mutex
	i, calls, at := 0, 0, []int{}
	connected := func() bool {
		mu.Lock()
		defer mu.Unlock()
		v := script[min(i, len(script)-1)]
		i++
		return v
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		watchOutages(connected, time.Millisecond, func() {
			mu.Lock()
			calls++
			at = append(at, i-1)
			mu.Unlock()
		}, stop)
	}()
	waitFor(t, "the script to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return i > len(script)+3
	})
	close(stop)
	<-done
	mu.Lock()
	defer mu.Unlock()
	// Back up at reads 4 and 9; again two reads later (6, 11).
	if want := []int{4, 6, 9, 11}; len(at) != len(want) || at[0] != 4 || at[1] != 6 || at[2] != 9 || at[3] != 11 {
		t.Errorf("resyncs at reads %v, want %v", at, want)
	}
}
