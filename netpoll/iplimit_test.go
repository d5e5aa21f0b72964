package netpoll

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// dialerFrom dials from a given loopback address.
func dialerFrom(ip string) ws.Dialer {
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return ws.Dialer{NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nd.DialContext(ctx, network, addr)
	}}
}

func rawClientFrom(t *testing.T, ip, addr string) *client {
	t.Helper()
	nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: testWait}
	conn, err := nd.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return wrapClient(t, conn)
}

// TestPerIPConnLimit is hole 10: one address holds its cap of slowloris
// sockets; its next connection gets a 429 at once, while a client from
// another address still connects. The table forgets addresses that leave.
func TestPerIPConnLimit(t *testing.T) {
	const capIP = 20
	s, addr := startServer(t, Config{MaxConnsPerIP: capIP, HandshakeTimeout: time.Minute},
		acceptAll(newRecorder(true)), nil)
	var slow []*client
	for range capIP {
		c := rawClientFrom(t, "127.0.0.1", addr)
		c.write([]byte("GET /socket HTTP/1.1\r\nHost: x\r\nUpgr"))
		slow = append(slow, c)
	}
	eventually(t, "slowloris registered", func() bool { return s.Stats().Registered == capIP })
	over := rawClientFrom(t, "127.0.0.1", addr)
	over.write([]byte(upgradeRequest("/socket")))
	if got := over.readAll(); !strings.HasPrefix(got, "HTTP/1.1 429 ") {
		t.Fatalf("over the per-address cap: %q", got)
	}
	if st := s.Stats(); st.RefusedPerIP != 1 || st.Registered != capIP {
		t.Fatalf("stats %+v", st)
	}
	other := dialWith(t, dialerFrom("127.0.0.2"), "ws://"+addr+"/socket")
	other.send(ws.OpText, []byte("from another address"))
	other.expectFrame(ws.OpText)
	if n, _ := s.ipl.counts(); n != 2 {
		t.Fatalf("%d addresses in the table", n)
	}
	for _, c := range slow {
		_ = c.conn.Close()
	}
	eventually(t, "slowloris gone", func() bool { return s.Stats().Registered == 1 })
	again := dialWith(t, dialerFrom("127.0.0.1"), "ws://"+addr+"/socket")
	again.send(ws.OpText, []byte("back"))
	again.expectFrame(ws.OpText)
	_ = again.conn.Close()
	_ = other.conn.Close()
	eventually(t, "table emptied", func() bool { n, _ := s.ipl.counts(); return n == 0 })
}

// TestPerIPRate: past its burst, an address's new connections get a 429
// (counted in Stats.RateLimited); another address is unaffected.
func TestPerIPRate(t *testing.T) {
	const burst = 3
	s, addr := startServer(t, Config{ConnRatePerIP: 0.01, ConnBurstPerIP: burst},
		acceptAll(newRecorder(true)), nil)
	for range burst {
		c := dialWith(t, dialerFrom("127.0.0.1"), "ws://"+addr+"/socket")
		_ = c.conn.Close()
	}
	c := rawClientFrom(t, "127.0.0.1", addr)
	c.write([]byte(upgradeRequest("/socket")))
	if got := c.readAll(); !strings.HasPrefix(got, "HTTP/1.1 429 ") {
		t.Fatalf("over the rate: %q", got)
	}
	if st := s.Stats(); st.RateLimited != 1 {
		t.Fatalf("stats %+v", st)
	}
	other := dialWith(t, dialerFrom("127.0.0.3"), "ws://"+addr+"/socket")
	other.send(ws.OpText, []byte("x"))
	other.expectFrame(ws.OpText)
}

// TestIPLimiterTables checks the token bucket and the bounds of the
// tables with a fake clock.
func TestIPLimiterTables(t *testing.T) {
	const sec = int64(time.Second)
	l := newIPLimiter(Config{ConnRatePerIP: 10, ConnBurstPerIP: 2, MaxConnsPerIP: 2})
	a := netip.MustParseAddr("192.0.2.1")
	for i, want := range []int{ipOK, ipOK, ipRateLimited} {
		if got := l.admit(a, 0); got != want {
			t.Fatalf("attempt %d at t=0: %d, want %d", i, got, want)
		}
	}
	if got := l.admit(a, sec/10); got != ipTooMany { // a token is back, but 2 connections are open
		t.Fatalf("third connection: %d", got)
	}
	l.release(a)
	if got := l.admit(a, 3*sec/10); got != ipOK {
		t.Fatalf("after a release: %d", got)
	}
	l.release(a)
	l.release(a)
	if n, _ := l.counts(); n != 0 {
		t.Fatalf("%d connection entries after every release", n)
	}

	// A flood of distinct addresses: the rate table stays bounded and
	// admits the overflow untracked; refilled entries expire; the maps
	// of both tables shrink back once the addresses are gone.
	const flood = 4 * maxRateEntries
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := range flood {
		if got := l.admit(addr(i), sec); got != ipOK {
			t.Fatalf("address %d: %d", i, got)
		}
	}
	if c, n := l.counts(); n > maxRateEntries || c != flood {
		t.Fatalf("rate table holds %d entries (bound %d), connection table %d", n, maxRateEntries, c)
	}
	for i := range flood {
		l.release(addr(i))
	}
	l.prune(sec + sec/5) // burst 2 at 10/s: refilled after 0.2 s
	if _, n := l.counts(); n != 0 {
		t.Fatalf("%d rate entries after they refilled", n)
	}
	for i := range l.shards {
		if p, cp := l.shards[i].peak, l.shards[i].cpeak; p != 0 || cp != 0 {
			t.Fatalf("shard %d keeps maps sized for %d and %d entries", i, p, cp)
		}
	}
}

func TestAddrKey(t *testing.T) {
	key := func(s string) netip.Addr {
		k, ok := addrKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
		if !ok {
			t.Fatalf("no key for %s", s)
		}
		return k
	}
	if key("[2001:db8:1:2::1]:1") != key("[2001:db8:1:2:ffff::9]:2") {
		t.Fatal("one IPv6 /64 gave two keys")
	}
	if key("[2001:db8:1:2::1]:1") == key("[2001:db8:1:3::1]:1") {
		t.Fatal("two IPv6 /64s gave one key")
	}
	if key("[::ffff:192.0.2.1]:1") != key("192.0.2.1:2") {
		t.Fatal("an IPv4-mapped address is not its IPv4 address")
	}
	if _, ok := addrKey(&net.UnixAddr{Name: "/x", Net: "unix"}); ok {
		t.Fatal("a Unix socket has a key")
	}
}

// TestPeerKeyV4Mapped: two IPv4 clients of a dual-stack listener, as
// accept4 reports them (IPv4-mapped IPv6), get two keys, each its own
// IPv4 address, not the /64 they share.
func TestPeerKeyV4Mapped(t *testing.T) {
	mapped := func(d byte) [16]byte { return [16]byte{10: 0xff, 11: 0xff, 12: 192, 14: 2, 15: d} }
	var rsa unix.RawSockaddrAny
	r := (*unix.RawSockaddrInet6)(unsafePointer(&rsa))
	r.Family, r.Addr = unix.AF_INET6, mapped(1)
	a := peerFromRaw(&rsa, unix.SizeofSockaddrInet6)
	b := peerFromSockaddr(&unix.SockaddrInet6{Port: 2, Addr: mapped(2)})
	ka, okA := a.key()
	kb, okB := b.key()
	if !okA || !okB || ka == kb {
		t.Fatalf("two IPv4 clients keyed %v (%v) and %v (%v)", ka, okA, kb, okB)
	}
	if ka != netip.MustParseAddr("192.0.2.1") || kb != netip.MustParseAddr("192.0.2.2") {
		t.Fatalf("keys %v, %v; want the IPv4 addresses", ka, kb)
	}
}
