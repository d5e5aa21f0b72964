package phxredis

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Components whose failures make an outage: the publisher (its pipelines
// and pings) and each Pub/Sub connection (compLink + bucket).
const (
	compPublisher = -1
	compLink      = 0
)

// health tracks whether Redis is reachable from every component, and logs
// an outage once when it starts and once when it ends.
type health struct {
	ok    atomic.Bool // no component failing
	log   *slog.Logger
	mu    sync.Mutex // a leaf lock
	down  map[int]error
	since time.Time
}

func (h *health) init(log *slog.Logger) {
	h.log = log
	h.down = map[int]error{}
	h.ok.Store(true)
}

func (h *health) up() bool { return h.ok.Load() }

// fail records that component c cannot reach Redis.
func (h *health) fail(c int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, was := h.down[c]; was {
		return
	}
	if len(h.down) == 0 {
		h.since = time.Now()
		h.ok.Store(false)
		h.log.Warn("redis unreachable: broadcasts reach this node's subscribers only until it is back", "err", err)
	}
	h.down[c] = err
}

// recover records that component c works; it reports whether c was down.
func (h *health) recover(c int) bool {
	if h.ok.Load() {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, was := h.down[c]; !was {
		return false
	}
	delete(h.down, c)
	if len(h.down) == 0 {
		h.ok.Store(true)
		h.log.Info("redis reachable again", "outage", time.Since(h.since).Round(time.Millisecond))
	}
	return true
}

// forget drops component c (a closed connection) from the outage.
func (h *health) forget(c int) { h.recover(c) }

// backoff is the wait before retry attempt n (from 0): 50ms doubling up to
// 2s.
func backoff(n int) time.Duration {
	d := 50 * time.Millisecond
	for i := 0; i < n && d < 2*time.Second; i++ {
		d *= 2
	}
	return min(d, 2*time.Second)
}
