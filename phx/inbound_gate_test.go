package phx

import (
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/phxgo/phxgo/serializer"
)

// The mailbox item stays two words: every queued message is one, and a
// busy mailbox is copied as it grows.
func TestInboundMailItemSize(t *testing.T) {
	if n := unsafe.Sizeof(mail{}); n > 16 {
		t.Fatalf("mail item is %d bytes, want at most 16", n)
	}
}

// A socket under its caps counts inbound work without the gate's lock:
// acquire and release go through while another goroutine holds it.
func TestInboundCommonPathTakesNoLock(t *testing.T) {
	srv := newServerForTest(t, Config{MaxInbound: 8})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	s := h.sock
	s.in.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.inboundAcquire(100)
		s.inboundRelease(100)
	}()
	select {
	case <-done:
		s.in.mu.Unlock()
	case <-time.After(10 * time.Second):
		s.in.mu.Unlock()
		<-done
		t.Fatal("inbound accounting under the caps waited for the gate's lock")
	}
}

// Acquires and releases racing around the caps on several goroutines
// never miss a resume: once all work is released the input is running,
// and pause and resume alternate. (The counts the log shows are not
// checked: other goroutines' acquires move them without the lock.)
func TestInboundGateRaceNoMissedResume(t *testing.T) {
	const (
		capUnits = 8
		resume   = 4
		workers  = 4
		rounds   = 3000
	)
	srv := newServerForTest(t, Config{MaxInbound: capUnits, InboundResume: resume, MaxInboundBytes: 1 << 20})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	g := watchInput(h)
	s := h.sock
	var wg sync.WaitGroup
	for w := range workers {
		for range w {
			s.inboundAcquire(10)
		}
		wg.Go(func() {
			// Each worker swings between 0 and capUnits units on its own,
			// so the marks are crossed both ways whether or not the
			// workers overlap, and more often still when they do.
			held, up := w, true
			for range rounds {
				if up {
					s.inboundAcquire(10)
					held++
				} else {
					s.inboundRelease(10)
					held--
				}
				if held == capUnits || held == 0 {
					up = held == 0
				}
			}
			for ; held > 0; held-- {
				s.inboundRelease(10)
			}
		})
	}
	wg.Wait()
	if units, paused := s.InboundWork(); units != 0 || paused {
		t.Fatalf("all work released: %d units, paused %v; want 0, false", units, paused)
	}
	if b := s.in.bytes.Load(); b != 0 {
		t.Fatalf("%d bytes counted after all work was released", b)
	}
	calls := g.log()
	if len(calls) == 0 {
		t.Fatal("the input was never paused: the test did not reach the cap")
	}
	for i, c := range calls {
		want := "pause@"
		if i%2 == 1 {
			want = "resume@"
		}
		if !strings.HasPrefix(c, want) {
			t.Fatalf("call %d is %s, want %s…: %v", i, c, want, calls[max(0, i-3):i+1])
		}
	}
	t.Logf("%d pause/resume calls", len(calls))
}

// The narrow race: one acquire reaches the cap while another goroutine
// releases everything else. Whichever wins, the input must end up running
// (one unit is far under the low-water mark), never paused for good.
func TestInboundGateRacePauseAgainstRelease(t *testing.T) {
	const capUnits, trials = 8, 2000
	srv := newServerForTest(t, Config{MaxInbound: capUnits, InboundResume: 4, MaxInboundBytes: 1 << 20})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	s := h.sock
	for i := range trials {
		for range capUnits - 1 {
			s.inboundAcquire(10)
		}
		var wg sync.WaitGroup
		wg.Go(func() { s.inboundAcquire(10) })
		wg.Go(func() {
			for range capUnits - 1 {
				s.inboundRelease(10)
			}
		})
		wg.Wait()
		if units, paused := s.InboundWork(); units != 1 || paused {
			t.Fatalf("trial %d: %d units, paused %v; want 1, false", i, units, paused)
		}
		s.inboundRelease(10)
	}
}
