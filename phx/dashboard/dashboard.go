// Package dashboard is a live dashboard of a phx.Server: an http.Handler
// that serves one page (HTML, CSS and JavaScript embedded in the binary:
// no CDN, no external fonts), a JSON snapshot and a live stream of
// Server-Sent Events.
//
// The page shows open sockets by transport, joined channels, top topics
// by subscribers and by broadcasts per second, presences (WithPresence),
// refused connects by reason, brake refusals and slow-consumer closes,
// and charts of the last minutes: messages per second in and out,
// sockets, RSS and GC pauses. A goroutine samples the server every
// interval (default one second) into a ring buffer (default ten minutes),
// so a page opened late still shows history.
//
// Mount it behind the app's own authentication, or use WithKey or
// LoopbackOnly. The handler serves, relative to the directory it is
// mounted at (mount it at a path ending in "/", e.g. "/dashboard/"):
//
//	GET  ./               the page
//	GET  ./app.js         its script, ./app.css its style
//	GET  ./api/snapshot   the current Snapshot, history included (JSON)
//	GET  ./api/stream     text/event-stream: a "snapshot" event with history,
//	                      then a "sample" event per interval
//	POST ./login          (WithKey) form field "key": sets the login cookie
//
// Streams are bounded: at most WithMaxStreams at once (more get 503 and
// the page falls back to polling the snapshot), each ends after
// WithStreamLifetime (the browser reconnects by itself), and Close ends
// them all. Call Close before shutting the server down.
package dashboard

import (
	"embed"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presence"
)

//go:embed assets
var assets embed.FS

// Defaults of the options.
const (
	DefaultInterval       = time.Second
	DefaultHistory        = 600 // ten minutes of one-second samples
	DefaultMaxStreams     = 8
	DefaultStreamLifetime = 30 * time.Second
)

type config struct {
	pres       presenceStatser
	key        string
	loopback   bool
	interval   time.Duration
	history    int
	maxStreams int
	lifetime   time.Duration
}

// Option configures a Dashboard.
type Option func(*config)

// WithPresence shows the presences p tracks.
func WithPresence(p *presence.Presence) Option {
	return func(c *config) { c.pres = presenceAdapter{p} }
}

// WithKey requires every request but the page's static files and the
// login form to carry key: an "Authorization: Bearer <key>" header or the
// cookie the login form sets (an HMAC of the key, never the key itself).
// Keys are compared in constant time. Use at least 32 random characters.
func WithKey(key string) Option { return func(c *config) { c.key = key } }

// LoopbackOnly refuses (403) requests that do not come from a loopback
// address or whose Host header does not name one (localhost, 127.0.0.1,
// [::1]): a page on another site whose name is pointed at 127.0.0.1 (DNS
// rebinding) sends its own name as Host and is refused.
func LoopbackOnly() Option { return func(c *config) { c.loopback = true } }

// WithInterval sets the sampling interval (default one second).
func WithInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithHistory sets how many samples the charts keep (default 600).
func WithHistory(n int) Option { return func(c *config) { c.history = n } }

// WithMaxStreams bounds the live streams open at once (default 8).
func WithMaxStreams(n int) Option { return func(c *config) { c.maxStreams = n } }

// WithStreamLifetime sets how long one stream lasts before the server
// ends it and the browser reconnects (default 30s; keep it under the
// server's write timeout).
func WithStreamLifetime(d time.Duration) Option { return func(c *config) { c.lifetime = d } }

// Dashboard is the handler. Its sampling goroutine runs from New to Close.
type Dashboard struct {
	cfg     config
	streams chan struct{} // one token per open stream
	done    chan struct{}
	sampled sync.WaitGroup // the sampling goroutine
	serving sync.WaitGroup // open streams
	once    sync.Once

	viewed atomic.Int64  // Unix nanoseconds of the last request for data
	poke   chan struct{} // asks the sampler for a sample now

	mu      sync.Mutex
	latest  Snapshot
	ring    []Sample // the last cfg.history samples, oldest first after next
	next    int      // ring's write position once it is full
	tick    chan struct{}
	closing bool
}

// New starts sampling srv and returns the handler.
func New(srv *phx.Server, opts ...Option) *Dashboard {
	cfg := config{interval: DefaultInterval, history: DefaultHistory,
		maxStreams: DefaultMaxStreams, lifetime: DefaultStreamLifetime}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.interval <= 0 {
		cfg.interval = DefaultInterval
	}
	if cfg.history <= 0 {
		cfg.history = DefaultHistory
	}
	if cfg.maxStreams <= 0 {
		cfg.maxStreams = DefaultMaxStreams
	}
	if cfg.lifetime <= 0 {
		cfg.lifetime = DefaultStreamLifetime
	}
	d := &Dashboard{cfg: cfg, streams: make(chan struct{}, cfg.maxStreams),
		done: make(chan struct{}), tick: make(chan struct{}), poke: make(chan struct{}, 1)}
	s := newSampler(srv, cfg.pres)
	d.record(s.take(time.Now(), false))
	d.sampled.Add(1)
	go d.run(s)
	return d
}

// run samples every interval until Close.
func (d *Dashboard) run(s *sampler) {
	defer d.sampled.Done()
	t := time.NewTicker(d.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-d.done:
			return
		case now := <-t.C:
			d.record(s.take(now, d.watched(now)))
		case <-d.poke:
			now := time.Now()
			d.record(s.take(now, d.watched(now)))
		}
	}
}

// walkIdle is how long after the last request for data the sampler keeps
// walking the topic table and the presences (a variable for tests).
var walkIdle = 2 * time.Minute

// watched reports whether someone asked for data within walkIdle of now.
func (d *Dashboard) watched(now time.Time) bool {
	return now.UnixNano()-d.viewed.Load() < int64(walkIdle)
}

// freshen marks a request for data and, when the latest sample skipped
// the topic table (nobody was looking), has one taken now and waits for
// it (bounded).
func (d *Dashboard) freshen() {
	d.viewed.Store(time.Now().UnixNano())
	d.mu.Lock()
	fresh, tick, closing := d.latest.TopicsFresh, d.tick, d.closing
	d.mu.Unlock()
	if fresh || closing {
		return
	}
	select {
	case d.poke <- struct{}{}:
	default:
	}
	t := time.NewTimer(d.cfg.interval + time.Second)
	defer t.Stop()
	select {
	case <-tick:
	case <-t.C:
	case <-d.done:
	}
}

// record stores snap as the latest, appends its sample to the ring and
// wakes the streams.
func (d *Dashboard) record(snap Snapshot) {
	snap.IntervalMs = d.cfg.interval.Milliseconds()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.latest = snap
	if len(d.ring) < d.cfg.history {
		d.ring = append(d.ring, snap.Sample)
	} else {
		d.ring[d.next] = snap.Sample
		d.next = (d.next + 1) % len(d.ring)
	}
	close(d.tick)
	d.tick = make(chan struct{})
}

// Snapshot returns the latest sample with the history, oldest first.
func (d *Dashboard) Snapshot() Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap := d.latest
	snap.History = make([]Sample, 0, len(d.ring))
	snap.History = append(snap.History, d.ring[d.next:]...)
	snap.History = append(snap.History, d.ring[:d.next]...)
	return snap
}

// current returns the latest sample without history and the channel the
// next sample closes (nil once the Dashboard is closing).
func (d *Dashboard) current() (Snapshot, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return d.latest, nil
	}
	return d.latest, d.tick
}

// Close stops sampling, ends every open stream and waits for them. The
// snapshot stays readable; new streams are refused.
func (d *Dashboard) Close() error {
	d.once.Do(func() {
		d.mu.Lock()
		d.closing = true
		d.mu.Unlock()
		close(d.done)
		d.sampled.Wait()
		d.serving.Wait()
	})
	return nil
}

// ServeHTTP routes by the last element(s) of the path (see the package doc).
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	if d.cfg.loopback && !fromLoopback(r) {
		http.Error(w, "the dashboard answers loopback requests only", http.StatusForbidden)
		return
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/app.js"):
		d.asset(w, r, "assets/app.js", "text/javascript; charset=utf-8")
		return
	case strings.HasSuffix(p, "/app.css"):
		d.asset(w, r, "assets/app.css", "text/css; charset=utf-8")
		return
	case strings.HasSuffix(p, "/login"):
		d.login(w, r)
		return
	}
	if !d.authorized(r) {
		if strings.HasSuffix(p, "/") || p == "" {
			d.loginPage(w, http.StatusUnauthorized, "")
			return
		}
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case strings.HasSuffix(p, "/api/snapshot"):
		d.serveSnapshot(w, r)
	case strings.HasSuffix(p, "/api/stream"):
		d.serveStream(w, r)
	case strings.HasSuffix(p, "/") || p == "":
		d.asset(w, r, "assets/index.html", "text/html; charset=utf-8")
	default:
		http.NotFound(w, r)
	}
}

// asset serves an embedded file (GET and HEAD only).
func (d *Dashboard) asset(w http.ResponseWriter, r *http.Request, name, ctype string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, err := assets.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// presenceAdapter reads a *presence.Presence.
type presenceAdapter struct{ p *presence.Presence }

func (a presenceAdapter) Stats() PresenceStats {
	st := a.p.Stats()
	return PresenceStats{Topics: st.Topics, Presences: st.Presences}
}
