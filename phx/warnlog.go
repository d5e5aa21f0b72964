package phx

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// warnLog writes the log lines a client can trigger at will (bad frames,
// unmatched or over-long topics, refused, rejected or braked connects,
// lapsed join deadlines, handler errors and crashes), at WARN, INFO or
// ERROR. Without it a client sending junk or reconnecting as fast as it can
// makes the log grow as fast as its input. It bounds them two ways:
//
//   - every string, []string, []byte, error or fmt.Stringer value is cut to
//     Config.LogValueBytes bytes, with a marker saying how much was cut
//     ("…(+1048000 bytes)"), and the cut copy never aliases the original
//     (a megabyte topic is not kept alive by a log record); a stack trace
//     (stackValue) is cut at maxStackBytes instead;
//   - each message at each level (the msg string is the key, so use a
//     constant) is written at most Config.LogWarnsPerSecond times per
//     second; the rest are counted, and when the second ends one line at
//     the same level reports msg (as "message") and the number dropped: "warnings
//     suppressed" for WARN, "log lines suppressed" for the other levels.
//
// Its mutex is a leaf lock: nothing is called while it is held.
type warnLog struct {
	log    *slog.Logger
	max    int // longest value written; <= 0 means no cut
	rate   int // lines per message per window; <= 0 means no limit
	window time.Duration
	now    func() time.Time // time.Now; tests pin it

	mu     sync.Mutex
	kinds  map[warnKey]*warnKind
	closed bool // Server closed: no summary timer is armed any more
}

// warnKey names one limited kind of line.
type warnKey struct {
	level slog.Level
	msg   string
}

// warnKind counts one message's lines in the current window.
type warnKind struct {
	start   time.Time
	written int
	dropped int
	armed   bool        // a summary is scheduled for the dropped lines
	timer   *time.Timer // that summary's timer, while armed
}

// maxWarnKinds bounds the table of messages; messages past it share one
// entry per level (callers pass constant messages, so this is never
// reached in practice).
const maxWarnKinds = 256

// overflowKind is the shared entry of messages past maxWarnKinds.
const overflowKind = "(other warnings)"

// maxStackBytes bounds a stack trace in a crash line: longer than any one
// value, so the trace stays useful, but still bounded.
const maxStackBytes = 8 << 10

// stackValue marks a log value as a stack trace, cut at maxStackBytes
// rather than Config.LogValueBytes.
type stackValue []byte

func newWarnLog(l *slog.Logger, valueMax, perSecond int) *warnLog {
	return &warnLog{log: l, max: valueMax, rate: perSecond, window: time.Second, now: time.Now,
		kinds: make(map[warnKey]*warnKind)}
}

// Warn logs msg at WARN level with args (as slog.Logger.Warn takes them),
// values cut to length, unless msg has used up its lines for this second.
func (w *warnLog) Warn(msg string, args ...any) { w.logAt(slog.LevelWarn, msg, args) }

// Info is Warn at INFO level (connects rejected or braked, lapsed join
// deadlines: one per attempt, so as many as a client makes).
func (w *warnLog) Info(msg string, args ...any) { w.logAt(slog.LevelInfo, msg, args) }

// Error is Warn at ERROR level (handler errors and crashes a client's
// input can trigger).
func (w *warnLog) Error(msg string, args ...any) { w.logAt(slog.LevelError, msg, args) }

func (w *warnLog) logAt(level slog.Level, msg string, args []any) {
	ctx := context.Background()
	if !w.log.Enabled(ctx, level) || !w.allow(level, msg) {
		return
	}
	w.log.Log(ctx, level, msg, w.clipArgs(args)...)
}

// allow counts one line of msg and reports whether it may be written.
func (w *warnLog) allow(level slog.Level, msg string) bool {
	if w.rate <= 0 {
		return true
	}
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	key := warnKey{level, msg}
	k := w.kinds[key]
	if k == nil {
		if len(w.kinds) >= maxWarnKinds {
			key.msg = overflowKind
			k = w.kinds[key]
		}
		if k == nil {
			k = &warnKind{start: now}
			w.kinds[key] = k
		}
	}
	if now.Sub(k.start) >= w.window {
		k.start, k.written = now, 0
	}
	if k.written < w.rate {
		k.written++
		return true
	}
	if w.closed {
		return false // the server is gone: nothing is left to summarize it
	}
	k.dropped++
	if !k.armed {
		k.armed = true
		k.timer = time.AfterFunc(k.start.Add(w.window).Sub(now), func() { w.summarize(key) })
	}
	return false
}

// close stops the pending summary timers and writes their summaries now,
// so that no timer of the Server outlives Close or Shutdown. Lines over
// the rate after that are dropped uncounted.
func (w *warnLog) close() {
	w.mu.Lock()
	w.closed = true
	var pending []warnKey
	for key, k := range w.kinds {
		if k.armed && k.timer.Stop() {
			pending = append(pending, key)
		}
	}
	w.mu.Unlock()
	for _, key := range pending {
		w.summarize(key)
	}
}

// summarize writes the count of key's dropped lines, at their level.
func (w *warnLog) summarize(key warnKey) {
	w.mu.Lock()
	k := w.kinds[key]
	n := k.dropped
	k.dropped, k.armed, k.timer = 0, false, nil
	w.mu.Unlock()
	if n > 0 {
		summary := "log lines suppressed"
		if key.level == slog.LevelWarn {
			summary = "warnings suppressed"
		}
		// "message", not "msg": a second "msg" key would make the JSON
		// line ambiguous (a reader keeping the last one sees the dropped
		// message itself)
		w.log.Log(context.Background(), key.level, summary, "message", key.msg, "dropped", n,
			"per", w.window.String())
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

// clipValue cuts a string, []string, []byte, error or fmt.Stringer (or a
// slog.Attr holding one) longer than the limit, and a stackValue longer than
// maxStackBytes.
func (w *warnLog) clipValue(a any) (any, bool) {
	switch v := a.(type) {
	case stackValue:
		if len(v) > maxStackBytes {
			return clipBytes(v, maxStackBytes), true
		}
		return string(v), true
	case []string:
		return clipList(v, w.max), true
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
	case fmt.Stringer: // a panic value, say (after slog.Attr, a Stringer too)
		if s := v.String(); len(s) > w.max {
			return clipString(s, w.max), true
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

// clipList writes a list of strings as one comma-separated string cut to
// max bytes: a client-sent list (offered subprotocols) can be long in both
// count and length.
func clipList(l []string, limit int) string {
	total := len(l) - 1 // the commas
	for _, e := range l {
		total += len(e)
	}
	var b strings.Builder
	for i, e := range l {
		if b.Len() > limit {
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e[:min(len(e), limit+1)])
	}
	if total <= limit {
		return b.String()
	}
	head := b.String()
	cut := limit
	for cut > 0 && !utf8.RuneStart(head[cut]) {
		cut--
	}
	return head[:cut] + "…(+" + strconv.Itoa(total-cut) + " bytes)"
}

// clipBytes is clipString for a []byte, without converting all of it.
func clipBytes(b []byte, max int) string {
	cut := max
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return string(b[:cut]) + "…(+" + strconv.Itoa(len(b)-cut) + " bytes)"
}
