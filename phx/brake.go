package phx

import (
	"hash/maphash"
	"sync"
	"time"
)

// brake remembers recent frame-mode rejections per (client IP, credential)
// so that a client that reconnects at once (phoenix.js resets its backoff on
// every successful open) is refused before the upgrade instead, which makes
// it back off. Entries all live for the same window, so a FIFO queue of
// keys is also their expiry order; memory is bounded by max entries.
type brake struct {
	window time.Duration
	max    int
	seed   maphash.Seed

	mu      sync.Mutex
	entries map[uint64]brakeEntry
	order   []brakeKey // FIFO ring
	head    int
	size    int
}

type brakeEntry struct {
	until time.Time
	body  []byte // the rejection payload, reused as the 429 body
}

type brakeKey struct {
	key   uint64
	until time.Time
}

func newBrake(window time.Duration, max int) *brake {
	if window <= 0 {
		return nil
	}
	return &brake{window: window, max: max, seed: maphash.MakeSeed(),
		entries: make(map[uint64]brakeEntry), order: make([]brakeKey, max)}
}

// key hashes the client identity: the remote IP and every credential it
// presented (token param and auth token).
func (b *brake) key(ip, token, authToken string) uint64 {
	var h maphash.Hash
	h.SetSeed(b.seed)
	h.WriteString(ip)
	h.WriteByte(0)
	h.WriteString(token)
	h.WriteByte(0)
	h.WriteString(authToken)
	return h.Sum64()
}

// check returns the remembered payload and how long the brake still holds
// when the client is braked.
func (b *brake) check(k uint64, now time.Time) (body []byte, left time.Duration, braked bool) {
	if b == nil {
		return nil, 0, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	e, ok := b.entries[k]
	if !ok || !now.Before(e.until) {
		return nil, 0, false
	}
	return e.body, e.until.Sub(now), true
}

// record starts the window for a client just rejected with body.
func (b *brake) record(k uint64, body []byte, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	if b.size == b.max {
		b.evictOldest()
	}
	until := now.Add(b.window)
	b.entries[k] = brakeEntry{until: until, body: body}
	b.order[(b.head+b.size)%b.max] = brakeKey{key: k, until: until}
	b.size++
}

func (b *brake) expire(now time.Time) {
	for b.size > 0 && !now.Before(b.order[b.head].until) {
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
	b.head = (b.head + 1) % b.max
	b.size--
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
