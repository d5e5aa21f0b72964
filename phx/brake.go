package phx

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"
)

// brake remembers recent frame-mode rejections per (client IP, credential)
// so that a client that reconnects at once (phoenix.js resets its backoff on
// every successful open) is refused before the upgrade instead, which makes
// it back off. Keys queue in FIFO order: with one window that is also
// expiry order (an app's shorter retry advice only ends an entry sooner,
// which check sees); memory is bounded by max entries.
type brake struct {
	window time.Duration
	max    int
	seed   maphash.Seed

	mu      sync.Mutex
	entries map[uint64]brakeEntry
	order   []brakeKey // FIFO queue; order[head:] are live
	head    int
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
		entries: make(map[uint64]brakeEntry)}
}

// key hashes the client identity: the remote IP and the credentials the
// app sees (Config.BrakeKey, by default the "token" connect param and the
// auth token). Nothing else of the request takes part, so a client cannot
// slip past the brake by adding a junk parameter or a nonce per attempt.
func (b *brake) key(ip string, creds []string) uint64 {
	var h maphash.Hash
	h.SetSeed(b.seed)
	writeField(&h, ip)
	for _, c := range creds {
		writeField(&h, c)
	}
	return h.Sum64()
}

// writeField hashes s length-prefixed, so ("ab","c") and ("a","bc") differ.
func writeField(h *maphash.Hash, s string) {
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
	_, _ = h.Write(n[:])
	_, _ = h.WriteString(s)
}

// defaultBrakeKey is the brake's credential when Config.BrakeKey is nil:
// the "token" connect param (last value when repeated, as the app sees it)
// and the Phoenix ≥ 1.8 auth token.
func defaultBrakeKey(info *ConnectInfo) []string {
	return []string{info.Params.Get("token"), info.AuthToken}
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

// record starts the window for a client just rejected with body; a
// positive hold shorter than the window (the app's retry advice) shortens
// it for this client.
func (b *brake) record(k uint64, body []byte, hold time.Duration, now time.Time) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	if len(b.order)-b.head >= b.max {
		b.evictOldest()
	}
	if hold <= 0 || hold > b.window {
		hold = b.window
	}
	until := now.Add(hold)
	b.entries[k] = brakeEntry{until: until, body: body}
	if b.head > 0 && b.head >= len(b.order)/2 { // reuse the popped half
		b.order = append(b.order[:0], b.order[b.head:]...)
		b.head = 0
	}
	b.order = append(b.order, brakeKey{key: k, until: until})
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
