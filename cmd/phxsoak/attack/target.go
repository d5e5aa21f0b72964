package attack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	// DefaultDuration is how long an attack runs when Options.Duration is 0.
	DefaultDuration = 5 * time.Second
	// DefaultMaxSockets caps the sockets one attack holds open at once.
	DefaultMaxSockets = 2000
	// FDBudget is how many sockets all attacks of this process may hold at
	// once: under the 20,000 open files a process may have here, with room
	// for the rest of the process (phxd's pipes, the sampler, tests).
	FDBudget = 18000
)

// Target is the phxd under attack.
type Target struct {
	// Addr is phxd's host:port on loopback.
	Addr string
	// APIKey is the bearer key phxd was started with (PHXD_API_KEY), used
	// by the attacks that must also show the endpoint still works for its
	// owner. Empty: phxd was started without a key.
	APIKey string
	// Net picks the attack's source addresses, 127.0.Net.1 to 127.0.Net.250,
	// so that attacks running at once do not share addresses (per-address
	// limits and the reconnect brake see each attack as its own clients).
	// 0 uses the kernel's choice (127.0.0.1).
	Net int
}

// Options bound an attack. Zero fields take the attack's defaults.
type Options struct {
	// Duration bounds the attack's run time (default DefaultDuration).
	Duration time.Duration
	// Sockets is how many sockets the attack uses at once (each attack has
	// its own default), at most MaxSockets.
	Sockets int
	// MaxSockets caps Sockets (default DefaultMaxSockets).
	MaxSockets int
	// Count bounds what the attack sends (frames, joins, requests; each
	// attack has its own default budget).
	Count int64
}

// sockets returns the socket count to use: o.Sockets or def, capped.
func (o Options) sockets(def int) int {
	n := o.Sockets
	if n <= 0 {
		n = def
	}
	limit := o.MaxSockets
	if limit <= 0 {
		limit = DefaultMaxSockets
	}
	return max(1, min(n, limit))
}

// count returns the send budget: o.Count or def.
func (o Options) count(def int64) int64 {
	if o.Count > 0 {
		return o.Count
	}
	return def
}

// window returns a context that ends after the attack's duration.
func (o Options) window(ctx context.Context) (context.Context, context.CancelFunc) {
	d := o.Duration
	if d <= 0 {
		d = DefaultDuration
	}
	return context.WithTimeout(ctx, d)
}

// Result is what an attack did and what the server answered.
type Result struct {
	// Attack is the attack's name (see All).
	Attack string `json:"attack"`
	// Elapsed is the attack's run time.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Conns counts the connections opened, DialErrors the ones that failed
	// (refused, reset or timed out before the server answered anything).
	Conns      int64 `json:"conns"`
	DialErrors int64 `json:"dial_errors"`
	// PeakOpen is the most connections the attack held open at once.
	PeakOpen int64 `json:"peak_open"`
	// Sent counts what the attack sent (frames, joins or requests, per
	// attack), BytesSent the bytes it wrote.
	Sent      int64 `json:"sent"`
	BytesSent int64 `json:"bytes_sent"`
	// HTTP counts the HTTP statuses answered, keyed "what:status" (for
	// example "upgrade:101" or "noauth:401").
	HTTP map[string]int64 `json:"http,omitempty"`
	// CloseCodes counts the close codes read from the server's close frames.
	CloseCodes map[int]int64 `json:"close_codes,omitempty"`
	// Replies counts phx_reply statuses and other answers, keyed by what the
	// attack saw ("ok", "error:unmatched topic", …).
	Replies map[string]int64 `json:"replies,omitempty"`
	// Ends counts how connections ended: "server_close" (a close frame),
	// "eof" or "reset" (the server dropped the connection), "client" (the
	// attack closed it), "timeout" (a read or write deadline).
	Ends map[string]int64 `json:"ends,omitempty"`
	// Notes are facts worth a line in the report.
	Notes []string `json:"notes,omitempty"`
}

// recorder collects a Result from many goroutines.
type recorder struct {
	mu    sync.Mutex
	res   Result
	start time.Time

	conns, dialErrs, open, peak, sent, bytes atomic.Int64
}

func newRecorder(name string) *recorder {
	return &recorder{res: Result{Attack: name, HTTP: map[string]int64{},
		CloseCodes: map[int]int64{}, Replies: map[string]int64{}, Ends: map[string]int64{}},
		start: time.Now()}
}

func (r *recorder) http(what string, status int) {
	r.mu.Lock()
	r.res.HTTP[what+":"+strconv.Itoa(status)]++
	r.mu.Unlock()
}

func (r *recorder) closeCode(code int) {
	r.mu.Lock()
	r.res.CloseCodes[code]++
	r.mu.Unlock()
}

func (r *recorder) reply(what string) {
	r.mu.Lock()
	r.res.Replies[what]++
	r.mu.Unlock()
}

func (r *recorder) end(how string) {
	r.mu.Lock()
	r.res.Ends[how]++
	r.mu.Unlock()
}

func (r *recorder) note(format string, args ...any) {
	r.mu.Lock()
	r.res.Notes = append(r.res.Notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) wrote(n int) {
	r.sent.Add(1)
	r.bytes.Add(int64(n))
}

// opened counts a connection as opened and open.
func (r *recorder) opened() {
	r.conns.Add(1)
	n := r.open.Add(1)
	for {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (r *recorder) closed() { r.open.Add(-1) }

func (r *recorder) result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Elapsed = time.Since(r.start)
	res.Conns, res.DialErrors = r.conns.Load(), r.dialErrs.Load()
	res.PeakOpen, res.Sent, res.BytesSent = r.peak.Load(), r.sent.Load(), r.bytes.Load()
	return res
}

// endOf classifies the error that ended a connection.
func endOf(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "client"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, net.ErrClosed):
		return "client"
	case strings.Contains(err.Error(), "reset"):
		return "reset"
	case strings.Contains(err.Error(), "broken pipe"):
		return "reset"
	}
	return "eof"
}

// Summary is a one-line digest of r: the answers it saw, most frequent
// first.
func (r Result) Summary() string {
	var parts []string
	add := func(prefix string, m map[string]int64) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if m[keys[i]] != m[keys[j]] {
				return m[keys[i]] > m[keys[j]]
			}
			return keys[i] < keys[j]
		})
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s%s×%d", prefix, k, m[k]))
		}
	}
	add("", r.HTTP)
	codes := map[string]int64{}
	for c, n := range r.CloseCodes {
		codes[strconv.Itoa(c)] = n
	}
	add("close ", codes)
	add("reply ", r.Replies)
	add("end ", r.Ends)
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// backoff spaces the retries of a connection the server keeps ending at
// once: churn would only exhaust a source address's ports (the server's
// TIME_WAIT sockets hold them on loopback), not press the server harder.
type backoff struct {
	min, max time.Duration
	d        time.Duration
}

// wait sleeps before the next attempt: after an attempt that lasted under
// a second (or failed: ok false) the pause doubles from min up to max;
// after a long-lived one there is none.
func (b *backoff) wait(ctx context.Context, started time.Time, ok bool) {
	if ok && time.Since(started) >= time.Second {
		b.d = 0
		return
	}
	b.d = min(max(2*b.d, b.min), b.max)
	sleepCtx(ctx, b.d)
}
