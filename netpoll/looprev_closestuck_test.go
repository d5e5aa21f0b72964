package netpoll

import (
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestCloseWithStuckWorkers: Close while handlers block (their workers
// replaced by the watchdog) waits for them, then every connection gets
// exactly one OnClose after its last OnMessage, and Close returns with
// the loop's goroutines gone (the package's TestMain checks for leaks).
func TestCloseWithStuckWorkers(t *testing.T) {
	const stuck, others = 3, 5
	h := &blockingHandler{recorder: newRecorder(true), release: make(chan struct{})}
	rec := h.recorder
	s, ln := listenServer(t, Config{Workers: 1})
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, acceptAll(h), nil) }()
	addr := ln.Addr().String()
	cs := make([]*client, stuck+others)
	for i := range cs {
		cs[i] = dial(t, addr)
		rec.waitOpen(t)
	}
	for _, c := range cs[:stuck] {
		c.send(ws.OpText, []byte("block"))
	}
	eventually(t, "handlers blocked", func() bool { return h.started.Load() == stuck })
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while handlers still run", err)
	default:
	}
	close(h.release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testWait):
		t.Fatal("Close did not return after the handlers did")
	}
	if err := <-served; err != ErrServerClosed {
		t.Fatalf("Serve: %v", err)
	}
	if rec.overlap.Load() {
		t.Fatal("handler calls of one connection overlapped")
	}
	seen := map[*Conn]bool{}
	for range cs {
		ev := rec.waitClose(t)
		if seen[ev.c] {
			t.Fatal("OnClose twice")
		}
		seen[ev.c] = true
	}
	select {
	case ev := <-rec.closed:
		t.Fatalf("an OnClose too many: %v", ev.code)
	default:
	}
}
