package netpoll

import (
	"net"
	"testing"
)

// AcquireSlotFor: an address holds at most MaxConnsPerIP slots (IPv6 by
// its /64), counted with its accepted connections; another address is
// unaffected; MaxConns still bounds them all; every slot comes back.
func TestAcquireSlotForPerAddress(t *testing.T) {
	const capIP, maxConns = 3, 8
	s, addr := startServer(t, Config{MaxConnsPerIP: capIP, MaxConns: maxConns}, acceptAll(newRecorder(true)), nil)
	a := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 1}
	a2 := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 2} // same address, another port
	b := &net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 1}
	v6a := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::1")}
	v6b := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:ffff::9")} // same /64
	for i := range capIP {
		if !s.AcquireSlotFor([]net.Addr{a, a2}[i%2]) {
			t.Fatalf("slot %d of 127.0.0.1 refused under its cap %d", i+1, capIP)
		}
	}
	if s.AcquireSlotFor(a2) {
		t.Fatalf("127.0.0.1 got a slot over MaxConnsPerIP %d", capIP)
	}
	if st := s.Stats(); st.RefusedPerIP != 1 || st.Slots != capIP {
		t.Fatalf("stats after the refusal: RefusedPerIP %d, Slots %d; want 1, %d", st.RefusedPerIP, st.Slots, capIP)
	}
	if !s.AcquireSlotFor(b) {
		t.Fatalf("127.0.0.2 refused while only 127.0.0.1 is at its cap")
	}
	for range capIP {
		if !s.AcquireSlotFor(v6a) {
			t.Fatalf("an IPv6 /64 refused under its cap")
		}
	}
	if s.AcquireSlotFor(v6b) {
		t.Fatalf("another address of the same /64 got a slot over the cap")
	}
	// an accepted connection from 127.0.0.1 counts against the same cap
	c := rawClientFrom(t, "127.0.0.1", addr)
	c.write([]byte(upgradeRequest("/socket")))
	if got := c.readAll(); len(got) < 12 || got[:12] != "HTTP/1.1 429" {
		t.Fatalf("a connection from an address whose slots fill its cap: %q, want a 429", got)
	}
	// MaxConns bounds every address: 7 used, one more fits
	if !s.AcquireSlotFor(&net.TCPAddr{IP: net.ParseIP("127.0.0.3")}) || s.AcquireSlotFor(&net.TCPAddr{IP: net.ParseIP("127.0.0.4")}) {
		t.Fatalf("MaxConns %d not enforced over AcquireSlotFor (slots %d)", maxConns, s.Stats().Slots)
	}
	if n := s.Stats().RefusedPerIP; n != 3 {
		t.Fatalf("RefusedPerIP %d, want 3 (a refusal at MaxConns is not per-address)", n)
	}
	s.ReleaseSlotFor(&net.TCPAddr{IP: net.ParseIP("127.0.0.3")})
	s.ReleaseSlotFor(a)
	if !s.AcquireSlotFor(a2) {
		t.Fatalf("a released slot did not come back to its address")
	}
	for range capIP {
		s.ReleaseSlotFor(a)
		s.ReleaseSlotFor(v6b)
	}
	s.ReleaseSlotFor(b)
	if n, _ := s.ipl.counts(); n != 0 || s.Stats().Slots != 0 {
		t.Fatalf("after every release: %d addresses in the table, %d slots; want 0, 0", n, s.Stats().Slots)
	}
	// without a per-address cap only MaxConns holds, and AcquireSlot works
	s2, _ := startServer(t, Config{MaxConns: 2}, acceptAll(newRecorder(true)), nil)
	if !s2.AcquireSlotFor(a) || !s2.AcquireSlot() || s2.AcquireSlotFor(a) {
		t.Fatalf("MaxConns 2 without MaxConnsPerIP: wrong admissions (slots %d)", s2.Stats().Slots)
	}
	s2.ReleaseSlotFor(a)
	s2.ReleaseSlot()
	if n := s2.Stats().Slots; n != 0 {
		t.Fatalf("%d slots after the releases", n)
	}
}
