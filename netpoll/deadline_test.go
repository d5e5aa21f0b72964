package netpoll

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDeadlineLists drives the deadline lists with a fake clock: a
// deadline fires exactly when it falls (never early), clearing or
// replacing one takes it out, and the earliest is always known.
func TestDeadlineLists(t *testing.T) {
	var d deadlines
	d.init()
	c := make([]*Conn, 4)
	for i := range c {
		c[i] = &Conn{}
	}
	d.set(c[0], dlHandshake, 100)
	d.set(c[1], dlClose, 50)
	d.set(c[2], dlHandshake, 200)
	d.set(c[3], dlClose, 150)
	if e := d.earliest(); e != 50 {
		t.Fatalf("earliest %d", e)
	}
	if got := d.expire(49, nil); len(got) != 0 {
		t.Fatalf("fired early: %d", len(got))
	}
	if got := d.expire(50, nil); len(got) != 1 || got[0] != c[1] || c[1].dl != nil || c[1].has(fDeadline) {
		t.Fatalf("at 50: %v", got)
	}
	d.clear(c[0])
	if e := d.earliest(); e != 150 || c[0].dl != nil || c[0].has(fDeadline) {
		t.Fatalf("earliest %d after clearing the handshake at 100", e)
	}
	d.set(c[2], dlClose, 300) // a handshake deadline replaced by a close one
	if got := d.expire(299, nil); len(got) != 1 || got[0] != c[3] {
		t.Fatalf("at 299: %v", got)
	}
	if e := d.earliest(); e != 300 {
		t.Fatalf("earliest %d", e)
	}
	if got := d.expire(300, nil); len(got) != 1 || got[0] != c[2] {
		t.Fatalf("at 300: %v", got)
	}
	if e := d.earliest(); e != math.MaxInt64 {
		t.Fatalf("earliest %d with no deadline", e)
	}
	for k := range d.lists {
		if d.lists[k].head != nil || d.lists[k].tail != nil {
			t.Fatalf("list %d not empty", k)
		}
	}
	// An adder must wake the sweep only for a deadline before its plan.
	d.wakeAt = 1000
	if !d.set(c[0], dlClose, 999) || d.set(c[1], dlClose, 1000) {
		t.Fatal("wake-up decision")
	}
}

// TestNextWake: the sweep wakes at its tick, or at the earliest deadline
// rounded up to deadlineGrain when that comes first: a deadline fires at
// most deadlineGrain late.
func TestNextWake(t *testing.T) {
	g := int64(deadlineGrain)
	tick := 50 * g
	for _, e := range []int64{0, 1, g - 1, g, g + 1, 7*g + 3, tick - 1, tick, tick + 1, math.MaxInt64} {
		w := nextWake(tick, e)
		switch {
		case e >= tick && w != tick:
			t.Errorf("deadline %d after the tick %d: wake %d", e, tick, w)
		case e < tick && (w < e || w > e+g || w > tick):
			t.Errorf("deadline %d: wake %d (grain %d, tick %d)", e, w, g, tick)
		}
	}
}

// TestDeadlinesWithoutSweep: handshake, close and linger deadlines fire
// by themselves, not at the (here hour-long) sweep, and never before they
// fall.
func TestDeadlinesWithoutSweep(t *testing.T) {
	const timeout = 100 * time.Millisecond
	rec := newRecorder(false)
	up := upgraderFunc(func(r *UpgradeRequest) UpgradeResponse {
		if r.Path == "/reject" {
			return UpgradeResponse{Status: http.StatusForbidden}
		}
		return UpgradeResponse{Handler: rec}
	})
	s, addr := startServer(t, Config{SweepInterval: time.Hour, CloseTimeout: timeout,
		HandshakeTimeout: timeout}, up, nil)

	c := dial(t, addr)
	sc := rec.waitOpen(t)
	start := time.Now()
	sc.Close(ClosePolicyViolation, "rejected")
	c.readUntilClose(ClosePolicyViolation, "rejected")
	c.expectEOF() // never answered: dropped at CloseTimeout
	if d := time.Since(start); d < timeout {
		t.Fatalf("close deadline fired after %v, before %v", d, timeout)
	}

	start = time.Now()
	p := rawClient(t, addr)
	p.write([]byte("GET /socket HTTP/1.1\r\n"))
	p.expectEOF()
	if d := time.Since(start); d < timeout {
		t.Fatalf("handshake deadline fired after %v", d)
	}

	r := rawClient(t, addr) // a rejected upgrade lingers, then goes
	r.write([]byte(upgradeRequest("/reject")))
	if head := r.readHead(); !strings.HasPrefix(head, "HTTP/1.1 403 ") {
		t.Fatalf("response %q", head)
	}
	r.readAll()
	eventually(t, "everything dropped", func() bool { return s.Stats().Registered == 0 })
}
