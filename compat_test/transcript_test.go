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
//   - phx_error payload: recorded {} (Phoenix < 1.8.10); phxd sends
//     {"reason":"channel_crash"}, as Phoenix ≥ 1.8.10 does.
//   - kick_me: the server closes with 1001 (the example app; Phoenix ≥ 1.8.8),
//     the recording shows 1000 (older Phoenix + Cowboy/Bandit).
//   - rejected connects: Phoenix answers HTTP 403 (recorded); phxd completes
//     the upgrade and sends phx_connect_error + a 4xxx close. Not replayed
//     here, covered by reject_test.go.
//   - LongPoll lines are not replayed.
//
// Order: the frames answering one client frame (a window) must come in the
// recorded order, with one normalisation: presence_state and presence_diff
// frames may come anywhere within their window (a joiner's own
// presence_diff may arrive before or after its presence_state, in Phoenix
// too), but each must come, before the next client frame is sent. Presence
// payloads are compared after normalisation: phx_ref and phx_ref_prev values
// are named in order of first appearance on each side (they are random),
// online_at values must be numbers and are not compared (they are clocks).
// The replay sends each client frame as soon as the previous window is
// matched, without the recording's pauses, so phxd runs with
// -presence-window -1s (one presence_diff per change, as Phoenix sends a
// node's own changes): with the default window, changes made less than
// 50 ms apart share one diff, which the recording cannot show.
// presence_wire_test.go covers the default window with the recorded pauses.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
						`{"reason":"channel_crash"}`)) // Phoenix ≥ 1.8.10
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
	srv := startServer(t, "-presence-window", "-1s")
	r := &replay{recorded: newPresenceNames(), got: newPresenceNames()}
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
			if r.c != nil {
				// The recording's next connection came after its server had
				// torn the previous one down (its presences gone): wait for
				// phxd to have done the same before dialing.
				srv.waitClosedAll(t)
			}
			r.c = dialRaw(t, srv, act.query)
		case stepSend:
			if err := r.c.write(act.op, act.data); err != nil {
				t.Fatalf("line %d: send: %v", act.line, err)
			}
			sent++
		case stepPost:
			postRecordedBroadcast(t, srv, act, window)
		default:
			t.Fatalf("line %d: server frames with no client action before them", act.line)
		}
		matched += r.matchWindow(t, act, window)
	}
	// Nothing more, Presence included.
	if f, err := nextAnyFrame(r.c, quietWait); err == nil {
		t.Fatalf("after the last recorded frame: unexpected %s", f)
	}
	t.Logf("replayed %d client frames; %d server frames matched the recording, %d of them Presence", sent, matched, r.presence)
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

// replay is the state of one transcript replay: the current connection and
// the Presence ref names of each side.
type replay struct {
	c        *rawClient
	recorded *presenceNames // the recording's refs
	got      *presenceNames // phxd's refs
	presence int            // Presence frames matched
}

// matchWindow reads the server frames answering one client action and
// matches them with the recorded ones: the others in the recorded order,
// the Presence ones anywhere in the window (file comment). It returns how
// many it matched.
func (r *replay) matchWindow(t *testing.T, act step, window []step) int {
	t.Helper()
	var ordered []step
	var presence []step
	var presenceWant []string // normalised, parallel to presence
	for _, w := range window {
		if w.kind == stepExpect && w.op == ws.OpText && isPresenceFrame(w.data) {
			norm, err := r.recorded.normalise(w.data)
			if err != nil {
				t.Fatalf("line %d: recorded Presence frame: %v", w.line, err)
			}
			presence, presenceWant = append(presence, w), append(presenceWant, norm)
			continue
		}
		ordered = append(ordered, w)
	}
	n := len(ordered) + len(presence)
	for len(ordered)+len(presence) > 0 {
		f, err := nextAnyFrame(r.c, frameWait)
		if err != nil {
			t.Fatalf("after line %d (%s): want %s, got %v", act.line, describeStep(act),
				describeSteps(append(append([]step(nil), ordered...), presence...)), err)
		}
		if f.Op == ws.OpText && isPresenceFrame(f.Data) {
			norm, err := r.got.normalise(f.Data)
			if err != nil {
				t.Fatalf("after line %d (%s): Presence frame %s: %v", act.line, describeStep(act), f, err)
			}
			i := slices.Index(presenceWant, norm)
			if i < 0 {
				t.Fatalf("after line %d (%s): unexpected Presence frame %s\n\tnormalised %s\n\twant one of %q (normalised)%s",
					act.line, describeStep(act), f, norm, presenceWant, describeSteps(presence))
			}
			presence = slices.Delete(presence, i, i+1)
			presenceWant = slices.Delete(presenceWant, i, i+1)
			r.presence++
			continue
		}
		i := matchStep(ordered, f)
		switch {
		case i < 0:
			t.Fatalf("after line %d (%s): unexpected %s\n\twant %s", act.line, describeStep(act), f,
				describeSteps(append(append([]step(nil), ordered...), presence...)))
		case i > 0:
			t.Fatalf("after line %d (%s): frames in another order than Phoenix's: got line %d's frame %s before%s",
				act.line, describeStep(act), ordered[i].line, f, describeSteps(ordered[:i]))
		}
		ordered = ordered[1:]
	}
	return n
}

// nextAnyFrame returns the next frame, Presence messages included (rawClient.next
// skips them).
func nextAnyFrame(c *rawClient, d time.Duration) (rawFrame, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case f, ok := <-c.frames:
		if !ok {
			return rawFrame{}, io.EOF
		}
		return f, nil
	case <-timer.C:
		return rawFrame{}, errNoFrame
	}
}

// presenceNames normalises the Presence frames of one side of the replay:
// each phx_ref or phx_ref_prev value becomes "ref<N>", numbered in order of
// first appearance (keys walked in sorted order), and each online_at, which
// must be a number, becomes "(a number)".
type presenceNames struct{ refs map[string]string }

func newPresenceNames() *presenceNames { return &presenceNames{refs: map[string]string{}} }

// normalise returns the frame's normalised JSON text (object keys sorted).
func (p *presenceNames) normalise(frame []byte) (string, error) {
	v, err := decodeJSON(frame)
	if err != nil {
		return "", err
	}
	v, err = p.walk(v)
	if err != nil {
		return "", err
	}
	return string(mustJSON(v)), nil
}

func (p *presenceNames) walk(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		for i := range v {
			var err error
			if v[i], err = p.walk(v[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			switch k {
			case "phx_ref", "phx_ref_prev":
				ref, ok := v[k].(string)
				if !ok || ref == "" {
					return nil, fmt.Errorf("%s %v: want a non-empty string", k, v[k])
				}
				if _, seen := p.refs[ref]; !seen {
					p.refs[ref] = fmt.Sprintf("ref%d", len(p.refs)+1)
				}
				v[k] = p.refs[ref]
			case "online_at":
				if _, ok := v[k].(json.Number); !ok {
					return nil, fmt.Errorf("online_at %v: want a number", v[k])
				}
				v[k] = "(a number)"
			default:
				var err error
				if v[k], err = p.walk(v[k]); err != nil {
					return nil, err
				}
			}
		}
	}
	return v, nil
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

// waitClosedAll waits until phxd has logged as many closed sockets as
// connected ones.
func (s *phxd) waitClosedAll(t *testing.T) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed, open := s.changed, 0
		for _, e := range s.entries {
			switch e.Msg {
			case "connected":
				open++
			case "socket closed":
				open--
			}
		}
		s.mu.Unlock()
		if open <= 0 {
			return
		}
		select {
		case <-changed:
		case <-s.exited:
			t.Fatal("phxd exited while waiting for its sockets to close")
		case <-deadline.C:
			t.Fatalf("%d sockets still open in phxd's log after 30s", open)
		}
	}
}
