package phx

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// writtenAt returns the lines logged at level with message msg (not the
// summaries).
func (r *lineRecorder) writtenAt(level, msg string) []string {
	return r.matching("level=" + level + " msg=" + textValue(msg) + " ")
}

// droppedAt sums the dropped counts the summaries at level report for msg.
func (r *lineRecorder) droppedAt(level, msg string) int {
	summary := "log lines suppressed"
	if level == "WARN" {
		summary = "warnings suppressed"
	}
	n := 0
	for _, l := range r.matching("level=" + level + " msg=" + textValue(summary) + " message=" + textValue(msg) + " ") {
		m := droppedCount.FindStringSubmatch(l)
		d, _ := strconv.Atoi(m[1])
		n += d
	}
	return n
}

// waitAccountedAt is waitAccounted for a line at level.
func (r *lineRecorder) waitAccountedAt(t *testing.T, level, msg string, total int) int {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		written := len(r.writtenAt(level, msg))
		if written+r.droppedAt(level, msg) == total {
			return written
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("%s %s: %d lines written, %d reported dropped; want %d in all",
				level, msg, written, r.droppedAt(level, msg), total)
		}
	}
}

// longestLine is the length of the longest line recorded.
func (r *lineRecorder) longestLine() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		n = max(n, len(l))
	}
	return n
}

// Hole 9 of issue 10, connect side: refused, rejected and braked connects
// are one log line each, at WARN or INFO (which phxd logs by default), with
// client-sent values of up to 16 KiB. A loop of them writes at most
// LogWarnsPerSecond lines per message per second, each cut to size, and a
// summary per message reports the rest.
func TestConnectLogFloodBounded(t *testing.T) {
	const n, rate = 200, 5
	rec, httpRec := newLineRecorder(), newLineRecorder()
	long := strings.Repeat("x", 16<<10)
	frame := newServerForTest(t, Config{Connect: testConnect, RejectBrake: time.Hour,
		Logger: rec.logger(), LogWarnsPerSecond: rate})
	httpMode := newServerForTest(t, Config{Connect: testConnect, RejectMode: RejectHTTP,
		Logger: httpRec.logger(), LogWarnsPerSecond: rate})
	start := time.Now()
	for _, srv := range []*Server{frame, httpMode} {
		srv.warn.now = func() time.Time { return start } // one window for the whole loop
	}
	for i := range n {
		frame.handleUpgrade(upgradeReq("vsn=2.0.0", http.Header{"Origin": {"http://" + long + ".test"}}))
		frame.handleUpgrade(upgradeReq("vsn="+long, nil))
		frame.handleUpgrade(upgradeReq("vsn=2.0.0", nil, long, long, long))
		// the same bad token: rejected once, then braked
		frame.handleUpgrade(upgradeReq("token=nope&vsn=2.0.0", nil))
		httpMode.handleUpgrade(upgradeReq("token=nope"+strconv.Itoa(i)+"&vsn=2.0.0", nil))
	}
	if st := frame.Stats(); st.Braked != n-1 {
		t.Fatalf("%d braked, want %d (the loop must exercise the brake)", st.Braked, n-1)
	}
	for _, c := range []struct {
		rec        *lineRecorder
		level, msg string
		total      int
	}{
		{rec, "WARN", "connect refused: origin not allowed", n},
		{rec, "WARN", "connect refused: unsupported vsn", n},
		{rec, "WARN", "connect refused: no acceptable subprotocol", n},
		// frame and brake rejections share one message and budget
		{rec, "INFO", "connect rejected", n},
		{httpRec, "INFO", "connect rejected", n},
	} {
		if got := len(c.rec.writtenAt(c.level, c.msg)); got > rate {
			t.Fatalf("%s: %d lines in one second, want at most %d", c.msg, got, rate)
		}
		if written := c.rec.waitAccountedAt(t, c.level, c.msg, c.total); written == 0 {
			t.Fatalf("%s: nothing written", c.msg)
		}
	}
	// Each line is cut: 16 KiB values (three of them in the subprotocol
	// list) come out as a few hundred bytes.
	if l := rec.longestLine(); l > 1500 {
		t.Fatalf("longest log line %d bytes", l)
	}
}

// Handler errors and crashes a client can trigger at will are limited too.
func TestHandlerErrorLogFloodBounded(t *testing.T) {
	const n, rate = 100, 3
	rec := newLineRecorder()
	srv := newServerForTest(t, Config{Logger: rec.logger(), LogWarnsPerSecond: rate})
	srv.Channel("room:*", &testChannel{})
	start := time.Now()
	srv.warn.now = func() time.Time { return start }
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	for i := range n {
		ref := strconv.Itoa(i)
		h.in(`["` + ref + `","` + ref + `","room:` + ref + `","phx_join",{}]`)
		h.next()
		h.in(`["` + ref + `","x","room:` + ref + `","fail",{}]`)
		h.next()
		h.in(`["` + ref + `","y","room:` + ref + `","crash",{}]`)
		h.next() // phx_error
	}
	for _, msg := range []string{"handle_in failed", "channel crashed"} {
		if got := len(rec.writtenAt("ERROR", msg)); got > rate {
			t.Fatalf("%s: %d lines in one second, want at most %d", msg, got, rate)
		}
		rec.waitAccountedAt(t, "ERROR", msg, n)
	}
}

func TestWarnLogLevelsAndLists(t *testing.T) {
	rec := newLineRecorder()
	w := newWarnLog(rec.logger(), 20, 2)
	start := time.Now()
	w.now = func() time.Time { return start }
	for i := range 10 {
		w.Info("info kind", "i", i)
		w.Error("error kind", "i", i)
		w.Warn("info kind", "i", i) // same text at another level: its own budget
	}
	for _, c := range []struct{ level, msg string }{
		{"INFO", "info kind"}, {"ERROR", "error kind"}, {"WARN", "info kind"},
	} {
		if got := len(rec.writtenAt(c.level, c.msg)); got != 2 {
			t.Fatalf("%s %s: %d lines, want 2", c.level, c.msg, got)
		}
		if got := rec.waitAccountedAt(t, c.level, c.msg, 10); got != 2 {
			t.Fatalf("%d written", got)
		}
	}
	// A debug-level logger drops nothing below its level; one above it
	// neither writes nor counts.
	quiet := newLineRecorder()
	wq := newWarnLog(slog.New(slog.NewTextHandler(quiet, &slog.HandlerOptions{Level: slog.LevelWarn})), 20, 2)
	wq.Info("hidden")
	if len(quiet.lines) != 0 {
		t.Fatalf("INFO written below the level: %q", quiet.lines)
	}

	// A list is joined and cut as one value; a stack trace is cut at its
	// own, larger bound; a long Stringer or error is cut.
	w2 := newWarnLog(rec.logger(), 20, -1)
	list := []string{strings.Repeat("a", 15), strings.Repeat("b", 15), strings.Repeat("c", 1000)}
	stack := strings.Repeat("s", 3*maxStackBytes)
	w2.Warn("lists", "offered", list, "stack", stackValue(stack), "err", errors.New(strings.Repeat("e", 100)),
		"v", stringer(strings.Repeat("v", 100)))
	line := rec.writtenAt("WARN", "lists")[0]
	if !strings.Contains(line, "offered="+textValue(strings.Repeat("a", 15)+",bbbb…(+1012 bytes)")) {
		t.Fatalf("list not cut as one value: %.200s", line)
	}
	if !strings.Contains(line, strings.Repeat("s", maxStackBytes)+"…(+"+strconv.Itoa(2*maxStackBytes)+" bytes)") {
		t.Fatal("stack not cut at maxStackBytes")
	}
	if !strings.Contains(line, "err="+textValue(strings.Repeat("e", 20)+"…(+80 bytes)")) ||
		!strings.Contains(line, "v="+textValue(strings.Repeat("v", 20)+"…(+80 bytes)")) {
		t.Fatalf("error or Stringer not cut: %.300s", line[len(line)-200:])
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// A lapsed join deadline is one INFO line per socket, and a client can
// open sockets that join nothing as fast as it likes: limited too.
func TestJoinDeadlineLogBounded(t *testing.T) {
	const n, rate = 50, 4
	rec := newLineRecorder()
	srv := newServerForTest(t, Config{Logger: rec.logger(), LogWarnsPerSecond: rate})
	start := time.Now()
	srv.warn.now = func() time.Time { return start }
	for range n {
		h := srv.connectForTest(t, serializer.V2, Assigns{})
		srv.joinLapsed(h.sock)
	}
	if st := srv.Stats(); st.JoinTimeouts != n {
		t.Fatalf("%d join timeouts, want %d", st.JoinTimeouts, n)
	}
	if got := len(rec.writtenAt("INFO", "join deadline lapsed")); got > rate {
		t.Fatalf("%d lines in one second, want at most %d", got, rate)
	}
	rec.waitAccountedAt(t, "INFO", "join deadline lapsed", n)
}
