package netpoll

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Verdicts of ipLimiter.admit.
const (
	ipOK = iota
	ipTooMany
	ipRateLimited
)

const (
	ipShards = 16
	// maxRateEntries bounds the rate table (about 64 bytes an entry). An
	// entry goes away once its bucket is full again (it then says nothing
	// a missing entry would not); when the table is full of live entries,
	// new addresses are admitted untracked: MaxConns still holds, and
	// filling it takes that many addresses within one refill time.
	maxRateEntries = 1 << 16
	shardRateCap   = maxRateEntries / ipShards
	fullPruneEvery = 100 * time.Millisecond
)

// ipLimiter enforces MaxConnsPerIP and ConnRatePerIP. Its tables hold only
// addresses in use: a connection count entry lives while the address has
// a connection, a rate entry until its bucket has refilled.
type ipLimiter struct {
	maxConns int32
	rate     float64 // tokens per nanosecond; 0: no rate limit
	burst    float64
	shards   [ipShards]ipShard
}

type ipShard struct {
	mu      sync.Mutex
	conns   map[netip.Addr]int32
	buckets map[netip.Addr]bucket
	peak    int   // most buckets since the map was last rebuilt
	cpeak   int   // most connection entries since that map was last rebuilt
	full    int64 // when admit last pruned a full table
	_       [32]byte
}

type bucket struct {
	tokens float64
	last   int64 // Server.since() of the last refill
}

func newIPLimiter(cfg Config) *ipLimiter {
	if cfg.MaxConnsPerIP <= 0 && cfg.ConnRatePerIP <= 0 {
		return nil
	}
	l := &ipLimiter{maxConns: int32(max(cfg.MaxConnsPerIP, 0))}
	if cfg.ConnRatePerIP > 0 {
		l.rate = cfg.ConnRatePerIP / 1e9
		l.burst = float64(cfg.ConnBurstPerIP)
	}
	for i := range l.shards {
		l.shards[i].conns = make(map[netip.Addr]int32)
		l.shards[i].buckets = make(map[netip.Addr]bucket)
	}
	return l
}

// addrKey is the address a limit applies to: the IPv4 address, or the /64
// prefix of an IPv6 one (one host usually holds a whole /64). Non-TCP
// peers (Unix sockets) are not limited.
func addrKey(a net.Addr) (netip.Addr, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}, false
	}
	ip := ta.AddrPort().Addr().Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, ip.IsValid()
}

func (l *ipLimiter) shard(ip netip.Addr) *ipShard {
	a := ip.As16()
	h := (binary.LittleEndian.Uint64(a[:8]) ^ binary.LittleEndian.Uint64(a[8:])) * 0x9e3779b97f4a7c15
	return &l.shards[h>>60]
}

// admit takes a token of ip's bucket and counts one connection of ip, or
// says why not. A refused attempt still spends its token.
func (l *ipLimiter) admit(ip netip.Addr, now int64) int {
	sh := l.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if l.rate > 0 {
		b, known := sh.buckets[ip]
		if known {
			b.tokens = min(l.burst, b.tokens+float64(now-b.last)*l.rate)
		} else {
			b.tokens = l.burst
		}
		b.last = now
		ok := b.tokens >= 1
		if ok {
			b.tokens--
		}
		if known || len(sh.buckets) < shardRateCap || l.pruneFull(sh, now) {
			sh.buckets[ip] = b
			sh.peak = max(sh.peak, len(sh.buckets))
		}
		if !ok {
			return ipRateLimited
		}
	}
	if !l.countLocked(sh, ip) {
		return ipTooMany
	}
	return ipOK
}

// countLocked counts one more connection of ip, or reports false at
// MaxConnsPerIP (sh is ip's shard, locked).
func (l *ipLimiter) countLocked(sh *ipShard, ip netip.Addr) bool {
	if l.maxConns <= 0 {
		return true
	}
	n := sh.conns[ip]
	if n >= l.maxConns {
		return false
	}
	sh.conns[ip] = n + 1
	sh.cpeak = max(sh.cpeak, len(sh.conns))
	return true
}

// take counts one connection of ip toward MaxConnsPerIP only: a slot
// taken for a client whose request came over a connection that admit
// already rated spends no rate token.
func (l *ipLimiter) take(ip netip.Addr) bool {
	sh := l.shard(ip)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return l.countLocked(sh, ip)
}

// AcquireSlotFor is AcquireSlot for a connection that lives outside the
// event loop on behalf of the client at addr (a LongPoll session, say):
// besides its MaxConns slot it counts toward MaxConnsPerIP for addr's
// address (IPv6: its /64), as an accepted connection does, so that one
// client cannot hold every slot through such connections either. It
// reports false, counting nothing, at either limit or while the server is
// shutting down; a refusal at the per-address cap counts in
// Stats.RefusedPerIP, one at MaxConns in Stats.Refused. No rate token is
// spent (the request that asks came over a rated connection). An addr that
// is not a *net.TCPAddr is not limited per address. Each successful
// AcquireSlotFor needs exactly one ReleaseSlotFor with the same addr.
func (s *Server) AcquireSlotFor(addr net.Addr) bool {
	if s.isStopping() {
		return false
	}
	ip, byIP := netip.Addr{}, false
	if s.ipl != nil {
		if ip, byIP = addrKey(addr); byIP && !s.ipl.take(ip) {
			s.stats.refusedIP.Add(1)
			return false
		}
	}
	if !s.takeSlot() {
		if byIP {
			s.ipl.release(ip)
		}
		return false
	}
	return true
}

// ReleaseSlotFor gives back a slot taken by AcquireSlotFor(addr).
func (s *Server) ReleaseSlotFor(addr net.Addr) {
	s.putSlot()
	if s.ipl != nil {
		if ip, ok := addrKey(addr); ok {
			s.ipl.release(ip)
		}
	}
}

// release ends one connection of ip counted by admit.
func (l *ipLimiter) release(ip netip.Addr) {
	if l.maxConns <= 0 {
		return
	}
	sh := l.shard(ip)
	sh.mu.Lock()
	if n := sh.conns[ip] - 1; n > 0 {
		sh.conns[ip] = n
	} else {
		delete(sh.conns, ip)
	}
	sh.mu.Unlock()
}

// prune drops the rate entries whose bucket has refilled and rebuilds
// connection maps that shrank to a quarter of their peak, so a burst of
// addresses leaves no memory behind (the sweep calls it every
// SweepInterval).
func (l *ipLimiter) prune(now int64) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		if l.rate > 0 {
			l.pruneLocked(sh, now)
		}
		if sh.cpeak > 64 && len(sh.conns) < sh.cpeak/4 {
			m := make(map[netip.Addr]int32, len(sh.conns))
			for ip, n := range sh.conns {
				m[ip] = n
			}
			sh.conns, sh.cpeak = m, len(m)
		}
		sh.mu.Unlock()
	}
}

// pruneFull prunes a full shard for admit, at most once per
// fullPruneEvery, so that a flood of new addresses does not make every
// accept walk the table; it reports whether there is room.
func (l *ipLimiter) pruneFull(sh *ipShard, now int64) bool {
	if now-sh.full < int64(fullPruneEvery) && sh.full != 0 {
		return false
	}
	sh.full = now
	return l.pruneLocked(sh, now)
}

// pruneLocked drops sh's refilled buckets and reports whether there is
// room for a new one. A map that shrank to a quarter of its peak is
// rebuilt, so its memory goes too.
func (l *ipLimiter) pruneLocked(sh *ipShard, now int64) bool {
	for ip, b := range sh.buckets {
		if b.tokens+float64(now-b.last)*l.rate >= l.burst {
			delete(sh.buckets, ip)
		}
	}
	if sh.peak > 64 && len(sh.buckets) < sh.peak/4 {
		m := make(map[netip.Addr]bucket, len(sh.buckets))
		for ip, b := range sh.buckets {
			m[ip] = b
		}
		sh.buckets, sh.peak = m, len(m)
	}
	return len(sh.buckets) < shardRateCap
}

// counts reports the table sizes (tests).
func (l *ipLimiter) counts() (conns, buckets int) {
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		conns += len(sh.conns)
		buckets += len(sh.buckets)
		sh.mu.Unlock()
	}
	return conns, buckets
}
