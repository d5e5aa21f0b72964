package compat_test

// Replays of frames recorded from a real Phoenix server running the example
// app (testdata/compat/transcript-*.txt). The client frames are sent as
// recorded; the server frames phxd answers with are compared with the
// recorded ones as JSON values (Phoenix sorts object keys, phxd need not),
// refs included, binary frames byte for byte.
//
// Known and intended differences between the recording and phxd, applied to
// the recorded frames before comparing:
//
//   - presence_state / presence_diff frames are ignored on both sides (Presence
//     is a later issue).
//   - phx_error payload: recorded {} (Phoenix < 1.8.10); the contract and
//     Phoenix ≥ 1.8.10 send {"reason":"channel_crash"}.
//   - kick_me: the server closes with 1001 (contract; Phoenix ≥ 1.8.8), the
//     recording shows 1000 (older Phoenix + Cowboy/Bandit).
//   - rejected connects: Phoenix answers HTTP 403 (recorded); phxd completes
//     the upgrade and sends phx_connect_error + a 4xxx close. Not replayed
//     here, covered by reject_test.go.
//   - LongPoll lines are not replayed.
//   - Within the frames that answer one client frame the order is not
//     compared (logged only): Phoenix writes a broadcast before the reply to
//     the new_msg that caused it, which the contract does not require.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

const transcriptDir = "../testdata/compat/"

type stepKind int

const (
	stepDial   stepKind = iota // open a new connection (url's query)
	stepSend                   // client frame
	stepExpect                 // server frame
	stepClose                  // the server closes the connection
	stepPost                   // POST /api/broadcast to topic
)

type step struct {
	kind  stepKind
	line  int
	op    ws.OpCode // send, expect
	data  []byte    // send, expect
	query string    // dial
	code  int       // close
	topic string    // post
}

var (
	lineRE   = regexp.MustCompile(`^\[\s*\d+ms\] (.*)$`)
	dialRE   = regexp.MustCompile(`^A dial (\S+)$`)
	frameRE  = regexp.MustCompile(`^A (>>|<<) (TXT|BIN) (.*)$`)
	closeRE  = regexp.MustCompile(`^A ws close code=(\d+)`)
	postRE   = regexp.MustCompile(`^--- POST /api/broadcast to (\S+)`)
	rejectRE = regexp.MustCompile(`^=== rejected socket`)
)

// parseBasicTranscript reads the client A part of transcript-basic.txt.
func parseBasicTranscript(t *testing.T) []step {
	t.Helper()
	f, err := os.Open(transcriptDir + "transcript-basic.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		text := m[1]
		if rejectRE.MatchString(text) {
			break // rejected sockets and LongPoll: see the file comment
		}
		switch {
		case dialRE.MatchString(text):
			u, err := url.Parse(dialRE.FindStringSubmatch(text)[1])
			if err != nil {
				t.Fatalf("line %d: %v", n, err)
			}
			steps = append(steps, step{kind: stepDial, line: n, query: u.RawQuery})
		case frameRE.MatchString(text):
			fm := frameRE.FindStringSubmatch(text)
			s := step{kind: stepSend, line: n, op: ws.OpText, data: []byte(fm[3])}
			if fm[1] == "<<" {
				s.kind = stepExpect
			}
			if fm[2] == "BIN" {
				s.op = ws.OpBinary
				if s.data, err = hex.DecodeString(fm[3]); err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
			}
			steps = append(steps, s)
		case closeRE.MatchString(text):
			code, _ := strconv.Atoi(closeRE.FindStringSubmatch(text)[1])
			steps = append(steps, step{kind: stepClose, line: n, code: code})
		case postRE.MatchString(text):
			steps = append(steps, step{kind: stepPost, line: n, topic: postRE.FindStringSubmatch(text)[1]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// A close followed by no dial is the recorder's own disconnect at the end.
	if last := len(steps) - 1; last >= 0 && steps[last].kind == stepClose {
		steps = steps[:last]
	}
	return steps
}

// corrected applies the intended differences (file comment) to a recorded
// server step.
func corrected(s step) step {
	switch s.kind {
	case stepClose:
		if s.code == 1000 {
			s.code = 1001 // kick: contract, Phoenix ≥ 1.8.8
		}
	case stepExpect:
		if s.op == ws.OpText {
			if arr, err := decodeJSON(s.data); err == nil {
				if a, ok := arr.([]any); ok && len(a) == 5 && a[3] == "phx_error" {
					s.data = []byte(v2(string(mustJSON(a[0])), string(mustJSON(a[1])), a[2].(string), "phx_error",
						`{"reason":"channel_crash"}`)) // as Phoenix ≥ 1.8.10
				}
			}
		}
	}
	return s
}

func TestTranscriptBasic(t *testing.T) {
	t.Parallel()
	steps := parseBasicTranscript(t)
	if len(steps) < 40 {
		t.Fatalf("parsed only %d steps from the transcript", len(steps))
	}
	srv := startServer(t)
	var c *rawClient
	sent, matched := 0, 0
	for i := 0; i < len(steps); {
		act := steps[i]
		i++
		var window []step
		for i < len(steps) && (steps[i].kind == stepExpect || steps[i].kind == stepClose) {
			window = append(window, corrected(steps[i]))
			i++
		}
		switch act.kind {
		case stepDial:
			c = dialRaw(t, srv, act.query)
		case stepSend:
			if err := c.write(act.op, act.data); err != nil {
				t.Fatalf("line %d: send: %v", act.line, err)
			}
			sent++
		case stepPost:
			postRecordedBroadcast(t, srv, act, window)
		default:
			t.Fatalf("line %d: server frames with no client action before them", act.line)
		}
		matched += matchWindow(t, c, act, window)
	}
	c.expectSilence(quietWait)
	t.Logf("replayed %d client frames; %d server frames matched the recording", sent, matched)
}

// postRecordedBroadcast sends the POST /api/broadcast whose result the
// window recorded (the recording has the frame, not the request).
func postRecordedBroadcast(t *testing.T, srv *phxd, act step, window []step) {
	t.Helper()
	for _, w := range window {
		v, err := decodeJSON(w.data)
		a, ok := v.([]any)
		if err != nil || !ok || len(a) != 5 || a[2] != act.topic {
			continue
		}
		body := fmt.Sprintf(`{"topic":%s,"event":%s,"payload":%s}`, mustJSON(a[2]), mustJSON(a[3]), mustJSON(a[4]))
		if resp, b := postBroadcast(t, srv, body); resp.StatusCode != http.StatusAccepted {
			t.Errorf("line %d: POST /api/broadcast: %d %q, want 202", act.line, resp.StatusCode, b)
		}
		return
	}
	t.Fatalf("line %d: no recorded broadcast frame after the POST", act.line)
}

// matchWindow reads the server frames answering one client action and
// matches them, in any order, with the recorded ones (Presence ignored).
// It returns how many it matched.
func matchWindow(t *testing.T, c *rawClient, act step, window []step) int {
	t.Helper()
	var want []step
	for _, w := range window {
		if w.kind == stepExpect && w.op == ws.OpText && isPresenceFrame(w.data) {
			continue
		}
		want = append(want, w)
	}
	inOrder, n := true, len(want)
	for len(want) > 0 {
		f, err := c.next(frameWait)
		if err != nil {
			t.Fatalf("after line %d (%s): want %s, got %v", act.line, describeStep(act), describeSteps(want), err)
		}
		i := matchStep(want, f)
		if i < 0 {
			t.Fatalf("after line %d (%s): unexpected %s\n\twant one of %s", act.line, describeStep(act), f, describeSteps(want))
		}
		if i != 0 {
			inOrder = false
		}
		want = append(want[:i], want[i+1:]...)
	}
	if !inOrder {
		t.Logf("after line %d (%s): frames in another order than Phoenix's (allowed)", act.line, describeStep(act))
	}
	return n
}

func matchStep(want []step, f rawFrame) int {
	for i, w := range want {
		switch {
		case w.kind == stepClose && f.Op == ws.OpClose && int(f.Code) == w.code:
			return i
		case w.kind == stepExpect && f.Op == w.op && w.op == ws.OpText && jsonEqual(f.Data, w.data):
			return i
		case w.kind == stepExpect && f.Op == w.op && w.op == ws.OpBinary && bytes.Equal(f.Data, w.data):
			return i
		}
	}
	return -1
}

func describeStep(s step) string {
	switch s.kind {
	case stepDial:
		return "dial ?" + s.query
	case stepClose:
		return fmt.Sprintf("CLOSE %d", s.code)
	case stepPost:
		return "POST /api/broadcast to " + s.topic
	}
	dir := ">>"
	if s.kind == stepExpect {
		dir = "<<"
	}
	if s.op == ws.OpBinary {
		return dir + " BIN " + hex.EncodeToString(s.data)
	}
	return dir + " TXT " + string(s.data)
}

func describeSteps(ss []step) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "\n\t\tline %d: %s", s.line, describeStep(s))
	}
	return b.String()
}

// transcript-extra.txt: two raw V1 clients, carol (vsn=1.0.0) and dave (no
// vsn), each joined room:v1 (ref "1") and pushed echo {"a":1} (ref "2"). The
// recording has the server frames only; the client frames are rebuilt here.
// The curl part (HTTP 403 for token=expired) is Phoenix's rejection, which
// phxd deliberately replaces (reject_test.go).
func TestTranscriptV1(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(transcriptDir + "transcript-extra.txt")
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string][]string{} // query → non-Presence server frames
	var queries []string
	for _, l := range strings.Split(string(b), "\n") {
		query, frame, ok := strings.Cut(l, " << ")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		if isPresenceFrame([]byte(frame)) {
			continue
		}
		if _, seen := recorded[query]; !seen {
			queries = append(queries, query)
		}
		recorded[query] = append(recorded[query], frame)
	}
	if len(queries) != 2 {
		t.Fatalf("want 2 recorded V1 clients, got %v", queries)
	}
	srv := startServer(t)
	clients := map[string]*rawClient{}
	for _, query := range queries { // both join first, as recorded
		if len(recorded[query]) != 2 {
			t.Fatalf("%s: want 2 recorded replies, got %v", query, recorded[query])
		}
		c := dialRaw(t, srv, query)
		c.sendText(v1("", q("1"), "room:v1", "phx_join", `{}`))
		c.expectText(recorded[query][0])
		clients[query] = c
	}
	for _, query := range queries {
		c := clients[query]
		c.sendText(v1("", q("2"), "room:v1", "echo", `{"a":1}`))
		c.expectText(recorded[query][1])
	}
}
