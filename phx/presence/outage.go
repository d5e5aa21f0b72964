package presence

import (
	"sync"
	"sync/atomic"
	"time"
)

// outage turns a run of failures of one dependency (the store, or the
// PubSub for diffs) into one log line per kind of failing call (heartbeat,
// store write, …) when the run starts and one line when it ends, however
// many calls fail in between: a store that is away for a minute must not
// write a line per topic per window.
type outage struct {
	what string // "store", "pubsub"
	// down is set from the first failure of a run to its end: ok, called
	// after every successful call, reads only it while nothing fails.
	down atomic.Bool

	mu     sync.Mutex
	since  time.Time // zero while the dependency answers
	fails  int
	logged map[string]bool // kinds of failure logged in this run
	// healthy is when the dependency last came back (zero if it never
	// failed): node expiry waits a NodeTimeout after it (see beat).
	healthy time.Time
}

// failed records a failure; the first of each kind (msg, a constant) in a
// run is logged at Error, the others at Debug.
func (p *Presence) failed(o *outage, msg string, err error, args ...any) {
	o.mu.Lock()
	if o.since.IsZero() {
		o.since = time.Now()
		o.down.Store(true)
	}
	o.fails++
	first := !o.logged[msg]
	if first {
		if o.logged == nil {
			o.logged = make(map[string]bool)
		}
		o.logged[msg] = true
	}
	o.mu.Unlock()
	args = append(args, "err", err)
	if first {
		p.log.Error("presence: "+msg, append(args, "logged", "once until the "+o.what+" answers again")...)
	} else {
		p.log.Debug("presence: "+msg, args...)
	}
}

// ok records a success; the end of a run of failures is logged at Info.
func (p *Presence) ok(o *outage) {
	if !o.down.Load() {
		return
	}
	o.mu.Lock()
	since, fails := o.since, o.fails
	if since.IsZero() {
		o.mu.Unlock()
		return
	}
	o.since, o.fails, o.healthy = time.Time{}, 0, time.Now()
	o.down.Store(false)
	clear(o.logged)
	o.mu.Unlock()
	p.log.Info("presence: "+o.what+" available again", "down_for", time.Since(since).Round(time.Millisecond),
		"failed_calls", fails)
}

// healthyFor reports whether the dependency has answered without a break
// for at least d (true when it never failed).
func (o *outage) healthyFor(d time.Duration, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() {
		return false
	}
	return o.healthy.IsZero() || now.Sub(o.healthy) >= d
}
