package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestShutdownBatches: Shutdown closes open connections batch by batch
// (seen through the server's batch hook, not inferred from timing), each
// batch no sooner than interval after the previous one, and every client
// reads 1012 "restart" on the wire.
func TestShutdownBatches(t *testing.T) {
	const n, batch = 25, 10
	interval := 50 * time.Millisecond
	rec := newRecorder(true)
	s, addr := startServer(t, Config{}, acceptAll(rec), nil)
	var batches []int
	var at []time.Time
	s.onBatch = func(closed int) { // runs on Shutdown's goroutine
		if closed > 0 {
			batches = append(batches, closed)
			at = append(at, time.Now())
		}
	}
	var clients []*client
	for range n {
		clients = append(clients, dial(t, addr))
		rec.waitOpen(t)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			c.expectClose(CloseServiceRestart, "restart")
			c.send(ws.OpClose, closeBody(CloseServiceRestart, ""))
			c.expectEOF()
		})
	}
	if err := s.Shutdown(context.Background(), CloseServiceRestart, "restart", batch, interval); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	if !slices.Equal(batches, []int{10, 10, 5}) {
		t.Fatalf("close batches %v", batches)
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < interval*9/10 {
			t.Fatalf("batch %d came %v after the previous one, interval %v", i, gap, interval)
		}
	}
	for range n {
		if ev := rec.waitClose(t); ev.code != CloseServiceRestart {
			t.Fatalf("OnClose code %d", ev.code)
		}
	}
	if s.NumConns() != 0 {
		t.Fatalf("NumConns %d", s.NumConns())
	}
	if err := s.Shutdown(context.Background(), 1000, "", 0, 0); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	rec := newRecorder(true)
	s, addr := startServer(t, Config{CloseTimeout: 10 * time.Second}, acceptAll(rec), nil)
	for range 5 {
		c := dial(t, addr) // never answers the close frame
		_ = c
		rec.waitOpen(t)
	}
	pending := rawClient(t, addr) // a handshake in progress
	pending.write([]byte("GET / HTTP/1.1\r\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx, CloseServiceRestart, "", 0, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	for range 5 {
		if ev := rec.waitClose(t); ev.code != CloseServiceRestart {
			t.Fatalf("OnClose code %d", ev.code)
		}
	}
	pending.expectEOF()
}

func TestCloseDuringShutdown(t *testing.T) {
	rec := newRecorder(true)
	s, addr := startServer(t, Config{CloseTimeout: 10 * time.Second}, acceptAll(rec), nil)
	dial(t, addr)
	rec.waitOpen(t)
	batched := make(chan struct{}, 1)
	s.onBatch = func(int) {
		select {
		case batched <- struct{}{}:
		default:
		}
	}
	done := make(chan error)
	go func() { done <- s.Shutdown(context.Background(), CloseServiceRestart, "", 1, time.Hour) }()
	<-batched // Shutdown is waiting for its hour-long interval
	if err := s.Close(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rec.waitClose(t)
}

func TestUpgradeDuringShutdown(t *testing.T) {
	rec := newRecorder(true)
	release := make(chan struct{})
	up := upgraderFunc(func(*UpgradeRequest) UpgradeResponse {
		<-release
		return UpgradeResponse{Handler: rec}
	})
	s, addr := startServer(t, Config{}, up, nil)
	c := rawClient(t, addr)
	c.write([]byte(upgradeRequest("/x")))
	eventually(t, "upgrade pending", func() bool { return s.Stats().Registered == 1 })
	var once sync.Once // the Upgrader answers once Shutdown dropped the pending upgrade
	s.onBatch = func(int) { once.Do(func() { close(release) }) }
	if err := s.Shutdown(context.Background(), CloseServiceRestart, "", 0, 0); err != nil {
		t.Fatal(err)
	}
	c.expectEOF()
	select {
	case <-rec.opened:
		t.Fatal("opened during shutdown")
	default:
	}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestNoFDLeak(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil { // init Go's poller
		ln.Close()
	}
	before := countFDs(t)
	rec := newRecorder(true)
	up := upgraderFunc(func(r *UpgradeRequest) UpgradeResponse {
		if r.Path == "/reject" {
			return UpgradeResponse{Status: 403}
		}
		return UpgradeResponse{Handler: rec}
	})
	s, err := New(Config{Logger: testLogger(), HandshakeTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	served := make(chan error, 1)
	go func() {
		served <- s.Serve(ln, up, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, "ok")
		}))
	}()
	tr := &http.Transport{DisableKeepAlives: true}
	for range 20 {
		c := dial(t, addr)
		c.send(ws.OpText, []byte("x"))
		c.expectFrame(ws.OpText)
		c.send(ws.OpClose, closeBody(1000, ""))
		c.expectClose(1000, "")
		c.conn.Close()

		c = dial(t, addr) // abrupt
		c.conn.Close()

		r := rawClient(t, addr)
		r.write([]byte(upgradeRequest("/reject")))
		if !strings.HasPrefix(r.readAll(), "HTTP/1.1 403") {
			t.Fatal("no 403")
		}
		r.conn.Close()

		resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/plain")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	p := rawClient(t, addr) // handshake timeout
	p.write([]byte("GET /"))
	p.expectEOF()
	p.conn.Close()
	eventually(t, "all connections gone", func() bool { return s.Stats().Registered == 0 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-served
	tr.CloseIdleConnections()
	eventually(t, "fds released", func() bool { return countFDs(t) <= before })
}
