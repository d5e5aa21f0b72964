package phx

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// refusingTimerChannel arms a long After in Join, then refuses the join.
type refusingTimerChannel struct {
	mu    sync.Mutex
	chans []*Channel
}

func (r *refusingTimerChannel) Join(c *Channel, _ Payload) (any, error) {
	r.mu.Lock()
	r.chans = append(r.chans, c)
	r.mu.Unlock()
	c.After(time.Hour, func() {})
	return nil, ErrorReply(Reason("no"))
}

func (*refusingTimerChannel) HandleIn(*Channel, *InMessage) (any, error) { return nil, nil }

// A refused join releases the timers its Join armed at once: otherwise
// each would hold an inbound unit (and the instance) until it fired, and
// a client could pause its own socket for good with refused joins.
func TestInboundRefusedJoinReleasesTimers(t *testing.T) {
	const max = 4
	srv := newServerForTest(t, Config{MaxInbound: max})
	rc := &refusingTimerChannel{}
	srv.Channel("r:*", rc)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	for range max + 1 {
		h.in(h.frame("1", "1", "r:a", "phx_join"))
		if m := h.nextMsg(); m.Kind != serializer.KindReply || m.Status != "error" {
			t.Fatalf("join: got %+v, want an error reply", m)
		}
	}
	rc.mu.Lock()
	chans := append([]*Channel(nil), rc.chans...)
	rc.mu.Unlock()
	for _, c := range chans {
		settleChannel(t, c) // each join's own unit is released once it has run
	}
	if units, paused := h.sock.InboundWork(); units != 0 || paused {
		t.Fatalf("after %d refused joins: %d units outstanding, paused %v; want 0, false",
			max+1, units, paused)
	}
}

// After's stop reports true when it cancelled f, also when the timer had
// already fired and f was waiting in the mailbox behind other work.
func TestInboundAfterStopCancelsQueuedFire(t *testing.T) {
	srv := newServerForTest(t, Config{})
	bc := &blockingChannel{release: make(chan struct{})}
	srv.Channel("block:*", bc)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.join("block:a", "1")
	c := h.sock.lookup("block:a")
	h.in(`["1","2","block:a","work",{}]`) // holds the mailbox
	waitMailbox(t, c, 0)                  // "work" has been taken: it runs, blocked
	var ran atomic.Bool
	stop := c.After(time.Millisecond, func() { ran.Store(true) })
	waitMailbox(t, c, 1) // the timer fired: its fire waits behind "work"
	got := stop()
	bc.release <- struct{}{}
	settleChannel(t, c)
	if ran.Load() {
		t.Fatal("f ran after stop took its timer")
	}
	if !got {
		t.Fatal("stop reported false, yet it cancelled f")
	}
	if units, _ := h.sock.InboundWork(); units != 0 {
		t.Fatalf("%d units outstanding after stop, want 0", units)
	}
	if stop() {
		t.Fatal("a second stop reported true")
	}
}

// waitMailbox waits until c's mailbox holds n items (60s at most).
func waitMailbox(t *testing.T, c *Channel, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for c.mailboxLen() != n {
		if time.Now().After(deadline) {
			t.Fatalf("mailbox holds %d items after 60s, want %d", c.mailboxLen(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
