package phx

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// warnLog writes the WARN lines a client can trigger at will (bad frames,
// unmatched or over-long topics, refused connects). Without it a client
// sending junk as fast as it can makes the log grow as fast as its input.
// It bounds them two ways:
//
//   - every string, []byte or error value is cut to Config.LogValueBytes
//     bytes, with a marker saying how much was cut ("…(+1048000 bytes)"),
//     and the cut copy never aliases the original (a megabyte topic is not
//     kept alive by a log record);
//   - each message (the msg string is the key, so use a constant) is
//     written at most Config.LogWarnsPerSecond times per second; the rest
//     are counted, and when the second ends one line "warnings suppressed"
//     reports msg and the number dropped.
//
// Its mutex is a leaf lock: nothing is called while it is held.
type warnLog struct {
	log    *slog.Logger
	max    int // longest value written; <= 0 means no cut
	rate   int // lines per message per window; <= 0 means no limit
	window time.Duration
	now    func() time.Time // time.Now; tests pin it

	mu    sync.Mutex
	kinds map[string]*warnKind
}

// warnKind counts one message's lines in the current window.
type warnKind struct {
	start   time.Time
	written int
	dropped int
	armed   bool // a summary is scheduled for the dropped lines
}

// maxWarnKinds bounds the table of messages; messages past it share one
// entry (callers pass constant messages, so this is never reached in
// practice).
const maxWarnKinds = 256

// overflowKind is the shared entry of messages past maxWarnKinds.
const overflowKind = "(other warnings)"

func newWarnLog(l *slog.Logger, valueMax, perSecond int) *warnLog {
	return &warnLog{log: l, max: valueMax, rate: perSecond, window: time.Second, now: time.Now,
		kinds: make(map[string]*warnKind)}
}

// Warn logs msg at WARN level with args (as slog.Logger.Warn takes them),
// values cut to length, unless msg has used up its lines for this second.
func (w *warnLog) Warn(msg string, args ...any) {
	if !w.log.Enabled(context.Background(), slog.LevelWarn) || !w.allow(msg) {
		return
	}
	w.log.Warn(msg, w.clipArgs(args)...)
}

// allow counts one line of msg and reports whether it may be written.
func (w *warnLog) allow(msg string) bool {
	if w.rate <= 0 {
		return true
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	k := w.kinds[msg]
	if k == nil {
		if len(w.kinds) >= maxWarnKinds {
			msg = overflowKind
			k = w.kinds[msg]
		}
		if k == nil {
			k = &warnKind{start: now}
			w.kinds[msg] = k
		}
	}
	if now.Sub(k.start) >= w.window {
		k.start, k.written = now, 0
	}
	if k.written < w.rate {
		k.written++
		return true
	}
	k.dropped++
	if !k.armed {
		k.armed = true
		time.AfterFunc(k.start.Add(w.window).Sub(now), func() { w.summarize(msg) })
	}
	return false
}

// summarize writes the count of msg's dropped lines.
func (w *warnLog) summarize(msg string) {
	w.mu.Lock()
	k := w.kinds[msg]
	n := k.dropped
	k.dropped, k.armed = 0, false
	w.mu.Unlock()
	if n > 0 {
		w.log.Warn("warnings suppressed", "msg", msg, "dropped", n, "per", w.window.String())
	}
}

// clipArgs returns args with every long value cut; args itself is left
// alone (the caller may own it).
func (w *warnLog) clipArgs(args []any) []any {
	if w.max <= 0 {
		return args
	}
	var out []any
	for i, a := range args {
		c, changed := w.clipValue(a)
		if changed && out == nil {
			out = append(make([]any, 0, len(args)), args[:i]...)
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return args
	}
	return out
}

// clipValue cuts a string, []byte or error (or a slog.Attr holding one)
// longer than the limit.
func (w *warnLog) clipValue(a any) (any, bool) {
	switch v := a.(type) {
	case string:
		if len(v) > w.max {
			return clipString(v, w.max), true
		}
	case []byte:
		if len(v) > w.max {
			return clipBytes(v, w.max), true
		}
		return string(v), true // logged as text, not as a list of numbers
	case error:
		if s := v.Error(); len(s) > w.max {
			return clipString(s, w.max), true
		}
	case slog.Attr:
		if c, ok := w.clipValue(v.Value.Any()); ok {
			return slog.Any(v.Key, c), true
		}
	}
	return a, false
}

// clipString returns s cut to at most max bytes at a rune boundary, with a
// marker of how many bytes were cut. The result is a fresh string.
func clipString(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(+" + strconv.Itoa(len(s)-cut) + " bytes)"
}

// clipBytes is clipString for a []byte, without converting all of it.
func clipBytes(b []byte, max int) string {
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…(+" + strconv.Itoa(len(b)-cut) + " bytes)"
}
