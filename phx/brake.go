package phx

import (
	"encoding/binary"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"time"
)

// brake remembers recent frame-mode rejections so that a client that
// reconnects at once (phoenix.js resets its backoff on every successful
// open) is refused before the upgrade instead, which makes it back off.
// It keeps two kinds of entries:
//
//   - per client, (address, credentials): a rejected client's retries are
//     braked for the window. Only when something identifies the client:
//     with no credential at all, every client behind one NAT or proxy
//     would share the key, and one refused client would lock out all.
//   - per address (the IPv4 address or the IPv6 /64, as netpoll's
//     per-address limits): rejections are counted whatever the credential,
//     and once addrCap of them fall within a window the address is braked
//     for a window. This bounds how often Connect runs for a client that
//     varies its token per attempt, or sends none.
//
// Keys queue in FIFO order: with one window that is also expiry order (an
// app's shorter retry advice only ends an entry sooner, which check sees);
// memory is bounded by max entries.
type brake struct {
	window  time.Duration
	max     int
	addrCap int // rejections per address per window before it is braked; <= 0: no cap
	seed    maphash.Seed

	mu      sync.Mutex
	entries map[uint64]brakeEntry
	order   []brakeKey // FIFO queue; order[head:] are live
	head    int
}

type brakeEntry struct {
	until  time.Time
	body   []byte // the rejection payload, reused as the 429 body
	hits   int    // rejections counted in the window (address entries)
	braked bool   // attempts under this key are refused until until
}

type brakeKey struct {
	key   uint64
	until time.Time
}

// brakeID is what the brake knows of one connect attempt.
type brakeID struct {
	client    uint64 // hash of (address, credentials)
	hasClient bool   // false when no credential identifies the client
	addr      uint64 // hash of the address alone
}

func newBrake(window time.Duration, max, addrCap int) *brake {
	if window <= 0 {
		return nil
	}
	return &brake{window: window, max: max, addrCap: addrCap, seed: maphash.MakeSeed(),
		entries: make(map[uint64]brakeEntry)}
}

// id hashes the client identity: the remote address and the credentials
// the app sees (see Server.brakeCredentials). Nothing else of the request
// takes part, so a client cannot slip past the brake by adding a junk
// parameter or a nonce per attempt. creds nil means nothing identifies the
// client: only the per-address cap applies.
func (b *brake) id(addr string, creds []string) brakeID {
	id := brakeID{addr: b.key("addr", addr), hasClient: creds != nil}
	if creds != nil {
		id.client = b.key("client", append([]string{addr}, creds...)...)
	}
	return id
}

// key hashes the fields length-prefixed, so ("ab","c") and ("a","bc")
// differ; kind keeps address and client keys apart.
func (b *brake) key(kind string, fields ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(b.seed)
	for _, f := range append([]string{kind}, fields...) {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(f)))
		_, _ = h.Write(n[:])
		_, _ = h.WriteString(f)
	}
	return h.Sum64()
}

// defaultBrakeKey is the brake's credential when Config.BrakeKey is nil:
// the "token" connect param (last value when repeated, as the app sees it)
// and the Phoenix ≥ 1.8 auth token; when both are empty, the Cookie and
// Authorization headers (an app reading its credential there); nil when
// all four are empty.
func defaultBrakeKey(info *ConnectInfo) []string {
	token, auth := info.Params.Get("token"), info.AuthToken
	if token != "" || auth != "" {
		return []string{token, auth}
	}
	var cookie, authz string
	if info.Header != nil {
		cookie, authz = info.Header.Get("Cookie"), info.Header.Get("Authorization")
	}
	if cookie == "" && authz == "" {
		return nil
	}
	return []string{"", "", cookie, authz}
}

// brakeAddr is the address part of the brake's keys: the IPv4 address, or
// the /64 prefix of an IPv6 one (one host usually holds a whole /64, so a
// per-address key would let it rotate addresses past the brake).
func brakeAddr(a net.Addr) string {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr()
	} else {
		var err error
		if ip, err = netip.ParseAddr(hostOnly(addrString(a))); err != nil {
			return hostOnly(addrString(a))
		}
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// check returns the remembered payload and how long the brake still holds
// when the client or its address is braked.
func (b *brake) check(id brakeID, now time.Time) (body []byte, left time.Duration, braked bool) {
	if b == nil {
		return nil, 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	for _, k := range []uint64{id.client, id.addr} {
		if k == id.client && !id.hasClient {
			continue
		}
		if e, ok := b.entries[k]; ok && e.braked && now.Before(e.until) {
			return e.body, e.until.Sub(now), true
		}
	}
	return nil, 0, false
}

// record notes a rejection with body: it starts the client's window (a
// positive hold shorter than the window, the app's retry advice, shortens
// it for this client) and counts one against the address, braking the
// address for a window when the count reaches addrCap.
func (b *brake) record(id brakeID, body []byte, hold time.Duration, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	if id.hasClient {
		if hold <= 0 || hold > b.window {
			hold = b.window
		}
		b.put(id.client, brakeEntry{until: now.Add(hold), body: body, braked: true})
	}
	if b.addrCap <= 0 {
		return
	}
	e, ok := b.entries[id.addr]
	if !ok || !now.Before(e.until) {
		b.put(id.addr, brakeEntry{until: now.Add(b.window), hits: 1, braked: b.addrCap <= 1, body: body})
		return
	}
	e.hits++
	if e.hits < b.addrCap || e.braked {
		b.entries[id.addr] = e // same until: the queued key still covers it
		return
	}
	b.put(id.addr, brakeEntry{until: now.Add(b.window), hits: e.hits, braked: true, body: body})
}

// put stores e under k and queues k, evicting the oldest key when full.
func (b *brake) put(k uint64, e brakeEntry) {
	if len(b.order)-b.head >= b.max {
		b.evictOldest()
	}
	b.entries[k] = e
	if b.head > 0 && b.head >= len(b.order)/2 { // reuse the popped half
		b.order = append(b.order[:0], b.order[b.head:]...)
		b.head = 0
	}
	b.order = append(b.order, brakeKey{key: k, until: e.until})
}

func (b *brake) expire(now time.Time) {
	for b.head < len(b.order) && !now.Before(b.order[b.head].until) {
		b.evictOldest()
	}
}

// evictOldest drops the oldest queued key; the map entry goes too unless a
// newer record of the same key replaced it.
func (b *brake) evictOldest() {
	old := b.order[b.head]
	if e, ok := b.entries[old.key]; ok && !e.until.After(old.until) {
		delete(b.entries, old.key)
	}
	b.order[b.head] = brakeKey{}
	b.head++
}

// len counts live entries (for tests and metrics).
func (b *brake) len() int {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.entries)
}
