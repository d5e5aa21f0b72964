package phx

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// lineRecorder collects log lines and signals each write.
type lineRecorder struct {
	mu     sync.Mutex
	lines  []string
	notify chan struct{}
}

func newLineRecorder() *lineRecorder { return &lineRecorder{notify: make(chan struct{}, 1)} }

func (r *lineRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.lines = append(r.lines, strings.TrimSuffix(string(p), "\n"))
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (r *lineRecorder) logger() *slog.Logger { return slog.New(slog.NewTextHandler(r, nil)) }

// matching returns the lines containing s.
func (r *lineRecorder) matching(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

var droppedCount = regexp.MustCompile(` dropped=(\d+)`)

// textValue is s as slog's text handler writes it.
func textValue(s string) string {
	if strings.ContainsAny(s, " =\"") {
		return strconv.Quote(s)
	}
	return s
}

// written returns the lines logged with message msg (not the summaries).
func (r *lineRecorder) written(msg string) []string {
	return r.matching("level=WARN msg=" + textValue(msg) + " ")
}

// dropped sums the dropped counts of the summaries for msg.
func (r *lineRecorder) dropped(msg string) int {
	n := 0
	for _, l := range r.matching(`msg="warnings suppressed" message=` + textValue(msg) + " ") {
		m := droppedCount.FindStringSubmatch(l)
		d, _ := strconv.Atoi(m[1])
		n += d
	}
	return n
}

// waitAccounted waits until the lines written for msg plus the dropped ones
// reported add up to total, and returns the number written.
func (r *lineRecorder) waitAccounted(t *testing.T, msg string, total int) int {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		written := len(r.written(msg))
		if written+r.dropped(msg) == total {
			return written
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("%s: %d lines written, %d reported dropped; want %d in all", msg, written, r.dropped(msg), total)
		}
	}
}

func TestWarnLogRateLimit(t *testing.T) {
	rec := newLineRecorder()
	w := newWarnLog(rec.logger(), 100, 5)
	start := time.Now()
	w.now = func() time.Time { return start } // every call in one window
	for i := range 1000 {
		w.Warn("flooded", "i", i)
		if i < 3 {
			w.Warn("other kind", "i", i)
		}
	}
	if n := len(rec.written("flooded")); n != 5 {
		t.Fatalf("%d lines written in one window, want the first 5", n)
	}
	if n := len(rec.written("other kind")); n != 3 {
		t.Fatalf("other kind: %d lines, want 3 (its own budget)", n)
	}
	if written := rec.waitAccounted(t, "flooded", 1000); written != 5 {
		t.Fatalf("%d written", written)
	}
	if s := rec.matching("warnings suppressed"); len(s) != 1 || !strings.Contains(s[0], "dropped=995") {
		t.Fatalf("summaries %q, want one reporting 995", s)
	}
	// The next window starts afresh.
	w.now = func() time.Time { return start.Add(time.Second) }
	w.Warn("flooded", "i", "again")
	if n := len(rec.written("flooded")); n != 6 {
		t.Fatalf("%d lines after the window, want 6", n)
	}
}

func TestWarnLogClipsValues(t *testing.T) {
	rec := newLineRecorder()
	w := newWarnLog(rec.logger(), 40, -1)
	big := strings.Repeat("é", 1<<19) // 1 MiB of 2-byte runes
	args := []any{"topic", big, "raw", []byte(big), "err", errors.New(big), slog.String("attr", big), "short", "ok", "n", 7}
	w.Warn("clipped", args...)
	if args[1] != big {
		t.Fatal("Warn changed the caller's arguments")
	}
	lines := rec.written("clipped")
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	line := lines[0]
	if len(line) > 600 {
		t.Fatalf("line of %d bytes for 1 MiB values: %.300s", len(line), line)
	}
	// 40 bytes is 20 runes; the cut lands on a rune boundary.
	marker := strings.Repeat("é", 20) + "…(+1048536 bytes)"
	if n := strings.Count(line, marker); n != 4 {
		t.Fatalf("marker found %d times, want 4: %s", n, line)
	}
	if !strings.Contains(line, "short=ok") || !strings.Contains(line, "n=7") {
		t.Fatalf("short values changed: %s", line)
	}
	if got := clipString("abc", 3); got != "abc" {
		t.Fatalf("clipString at the limit: %q", got)
	}
	if got := clipString("abcd", 3); got != "abc…(+1 bytes)" {
		t.Fatalf("clipString one over: %q", got)
	}
}

// TestUnmatchedJoinFloodLogs: a client flooding joins of unmatched 8 KiB
// topics gets its replies, while the log gets a bounded number of short
// lines and a count of the rest.
func TestUnmatchedJoinFloodLogs(t *testing.T) {
	const joins = 300
	rec := newLineRecorder()
	srv := newServerForTest(t, Config{Logger: rec.logger()})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	topic := padTo("nowhere:", 1000)
	start := time.Now()
	for i := range joins {
		h.in(fmt.Sprintf(`["1","%d","%s","phx_join",{}]`, i, topic))
		h.expect(fmt.Sprintf(`[null,"%d","%s","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`, i, topic))
	}
	windows := int(time.Since(start)/time.Second) + 1
	written := rec.waitAccounted(t, "join refused: unmatched topic", joins)
	if written > 10*windows {
		t.Fatalf("%d lines written over %d windows, limit 10 each", written, windows)
	}
	for _, l := range rec.written("join refused: unmatched topic") {
		if len(l) > 500 || !strings.Contains(l, "…(+800 bytes)") {
			t.Fatalf("line of %d bytes, want the 1000-byte topic cut to 200: %.300s", len(l), l)
		}
	}
}

// TestBadFrameFloodLogs: many sockets each closed for a bad frame (1007,
// read off the wire) log a bounded number of lines and a count of the rest.
func TestBadFrameFloodLogs(t *testing.T) {
	const sockets = 30
	rec := newLineRecorder()
	srv := newServerForTest(t, Config{Logger: rec.logger()})
	addr := startWire(t, srv)
	junk := `["1","2","` + strings.Repeat("t", 5000) + `",`
	start := time.Now()
	for range sockets {
		c := dialWire(t, addr)
		if err := c.send(junk); err != nil {
			t.Fatal(err)
		}
		if code, _ := c.expectClose(); code != int(CloseInvalidPayload) {
			t.Fatalf("close %d, want %d", code, CloseInvalidPayload)
		}
	}
	windows := int(time.Since(start)/time.Second) + 1
	written := rec.waitAccounted(t, "bad frame: closing socket", sockets)
	if written > 10*windows {
		t.Fatalf("%d lines written over %d windows, limit 10 each", written, windows)
	}
}

// TestWarnLogKindsBounded: messages are meant to be constant, but a caller
// that builds them from client input must not grow the table (or the log)
// without bound: past maxWarnKinds they share one rate-limited entry.
func TestWarnLogKindsBounded(t *testing.T) {
	rec := newLineRecorder()
	w := newWarnLog(rec.logger(), 100, 5)
	start := time.Now()
	w.now = func() time.Time { return start } // every call in one window
	const distinct = 10 * maxWarnKinds
	for i := range distinct {
		w.Warn("client says " + strconv.Itoa(i))
	}
	w.mu.Lock()
	kinds := len(w.kinds)
	w.mu.Unlock()
	if kinds != maxWarnKinds+1 {
		t.Fatalf("%d kinds kept after %d distinct messages, want %d (the cap plus the shared entry)",
			kinds, distinct, maxWarnKinds+1)
	}
	// The first maxWarnKinds messages each got a line; the rest share one
	// budget of 5 lines per window.
	if n := len(rec.matching("client says")); n != maxWarnKinds+5 {
		t.Fatalf("%d lines written, want %d", n, maxWarnKinds+5)
	}
}

// TestWarnLogCloseFlushes: closing the log (Server.Close, Shutdown) writes
// the pending summary at once and stops its timer, so no timer of the
// server outlives it, and arms none afterwards.
func TestWarnLogCloseFlushes(t *testing.T) {
	rec := newLineRecorder()
	w := newWarnLog(rec.logger(), 100, 2)
	start := time.Now()
	w.now = func() time.Time { return start }
	for i := range 10 {
		w.Warn("flooded", "i", i)
	}
	w.close() // before the window ends: the summary is written now
	if s := rec.matching("warnings suppressed"); len(s) != 1 || !strings.Contains(s[0], "dropped=8") {
		t.Fatalf("summaries after close %q, want one reporting 8", s)
	}
	w.now = func() time.Time { return start.Add(time.Hour) }
	for i := range 10 {
		w.Warn("late", "i", i)
	}
	w.mu.Lock()
	for key, k := range w.kinds {
		if k.armed || k.timer != nil {
			t.Errorf("%v: a summary timer was armed after close", key)
		}
	}
	w.mu.Unlock()
	if n := len(rec.written("late")); n != 2 {
		t.Fatalf("%d late lines written, want the rate (2)", n)
	}
}
