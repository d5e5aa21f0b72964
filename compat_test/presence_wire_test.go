package compat_test

// Presence frames compared with the ones recorded from Phoenix
// (testdata/compat/transcript-*.txt), as JSON values, with phx_ref and
// online_at values opaque: each side's distinct values are numbered in order
// of appearance, so a leave must repeat the ref its join announced and an
// update must keep online_at, as in the recording.
//
// phxd batches presence_diff per topic (-presence-window, default 50ms):
// changes less than a window apart in one topic are merged into one diff (a
// joiner's presence_state shows what was announced plus its own meta, whose
// diff may still wait). Such timings are not in the recording, so the
// exact comparison runs against a server with -presence-window -1s (one diff
// per change, as Phoenix does for a node's own changes), and again against
// the default server with the recording's pauses between steps.

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// recordedPresence returns the recorded presence frames of client A on
// topic, in order.
func recordedPresence(t *testing.T, topic string) []string {
	t.Helper()
	b, err := os.ReadFile(transcriptDir + "transcript-basic.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		fm := frameRE.FindStringSubmatch(m[1])
		if fm == nil || fm[1] != "<<" || fm[2] != "TXT" || !isPresenceFrame([]byte(fm[3])) {
			continue
		}
		if strings.Contains(fm[3], `,"`+topic+`","presence_`) {
			out = append(out, fm[3])
		}
	}
	return out
}

// opaquePresence numbers phx_ref and phx_ref_prev values in order of first
// appearance across frames (one numbering per side; object keys are
// visited in sorted order) and replaces online_at values, which must be
// integers, by "ts" (that an update keeps online_at is checked with
// phoenix.js, in TestJSPresenceLifecycle).
type opaquePresence struct {
	refs map[string]string
}

func (o *opaquePresence) normalize(t *testing.T, frame string) any {
	t.Helper()
	v, err := decodeJSON([]byte(frame))
	if err != nil {
		t.Fatalf("bad frame %s: %v", frame, err)
	}
	if o.refs == nil {
		o.refs = map[string]string{}
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(x)) {
				e := x[k]
				switch k {
				case "phx_ref", "phx_ref_prev":
					s, _ := e.(string)
					if !phxRefRE.MatchString(s) {
						t.Errorf("%s %q is not a base64url ref of 7 to 16 characters, in %s", k, s, frame)
					}
					x[k] = opaqueNumber(o.refs, s, "ref")
				case "online_at":
					if n, ok := e.(json.Number); !ok || strings.ContainsAny(string(n), ".eE") {
						t.Errorf("online_at %v is not an integer, in %s", e, frame)
					}
					x[k] = "ts"
				default:
					x[k] = walk(e)
				}
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return v
	}
	return walk(v)
}

func opaqueNumber(m map[string]string, v, prefix string) string {
	if n, ok := m[v]; ok {
		return n
	}
	m[v] = fmt.Sprintf("%s%d", prefix, len(m)+1)
	return m[v]
}

// presenceFrames reads frames until it has n presence frames (others are
// dropped), failing after frameWait.
func presenceFrames(t *testing.T, c *rawClient, n int) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(frameWait)
	for len(out) < n {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("%s: connection gone after %d of %d presence frames: %v", c.name, len(out), n, out)
			}
			if f.Op == ws.OpText && isPresenceFrame(f.Data) {
				out = append(out, string(f.Data))
			}
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%s: %d of %d presence frames: %v", c.name, len(out), n, out)
		}
	}
	return out
}

// presenceFramesUntil reads frames until one with event arrives and returns
// the presence frames before it, failing after frameWait.
func presenceFramesUntil(t *testing.T, c *rawClient, event string) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(frameWait)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("%s: connection gone before %s (presence frames %v)", c.name, event, out)
			}
			if f.Op != ws.OpText {
				continue
			}
			if isPresenceFrame(f.Data) {
				out = append(out, string(f.Data))
				continue
			}
			var m []json.RawMessage
			if json.Unmarshal(f.Data, &m) == nil && len(m) == 5 && string(m[3]) == q(event) {
				return out
			}
		case <-time.After(time.Until(deadline)):
			t.Fatalf("%s: no %s within %v (presence frames %v)", c.name, event, frameWait, out)
		}
	}
}

// comparePresence compares our frames with the recorded ones (user and
// topic names substituted) as normalized JSON values, in order.
func comparePresence(t *testing.T, got, recorded []string, subst *strings.Replacer) {
	t.Helper()
	if len(got) != len(recorded) {
		t.Fatalf("%d presence frames, recorded %d:\n got %v\nwant %v", len(got), len(recorded), got, recorded)
	}
	var og, or opaquePresence
	for i := range got {
		want := subst.Replace(recorded[i])
		g, w := og.normalize(t, got[i]), or.normalize(t, want)
		if testing.Verbose() {
			gj, _ := json.Marshal(g)
			t.Logf("presence frame %d: %s", i+1, gj)
		}
		if !valueEqual(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("presence frame %d differs from Phoenix's\n got: %s\nwant: %s\n(raw got %s)", i+1, gj, wj, got[i])
		}
	}
}

// replayPresence plays transcript-basic's presence steps (room:lobby: join,
// set_status, crash and rejoin; room:kick: join, kick_me, reconnect and
// rejoin) with pause between steps.
func replayPresence(t *testing.T, srv *phxd, pause time.Duration) {
	id, lobby, kick := uniq("tpa"), "room:"+uniq("tpl"), "room:"+uniq("tpk")
	subst := strings.NewReplacer(`"alice"`, q(id), `"room:lobby"`, q(lobby), `"room:kick"`, q(kick))
	query := "token=user:" + id + "&vsn=2.0.0"
	c := dialRaw(t, srv, query)
	var got []string
	c.sendText(v2(q("7"), q("7"), lobby, "phx_join", `{}`))
	got = append(got, presenceFrames(t, c, 2)...) // diff (own join), state
	time.Sleep(pause)
	c.sendText(v2(q("7"), q("12"), lobby, "set_status", `{"status":"away"}`))
	got = append(got, presenceFrames(t, c, 1)...) // update diff
	time.Sleep(pause)
	c.sendText(v2(q("7"), q("27"), lobby, "crash", `{}`))
	got = append(got, presenceFramesUntil(t, c, "phx_error")...) // the crash is done
	time.Sleep(pause)                                            // phoenix.js rejoins after 1 s
	c.sendText(v2(q("28"), q("28"), lobby, "phx_join", `{}`))
	got = append(got, presenceFrames(t, c, 2)...)
	comparePresence(t, got, recordedPresence(t, "room:lobby"), subst)

	got = nil
	c.sendText(v2(q("32"), q("32"), kick, "phx_join", `{}`))
	got = append(got, presenceFrames(t, c, 2)...)
	time.Sleep(pause)
	c.sendText(v2(q("32"), q("33"), kick, "kick_me", `{}`))
	if f, _ := c.expectClose(frameWait); f.Code != 1001 {
		t.Fatalf("kick_me: close %d, want 1001", f.Code)
	}
	time.Sleep(pause)
	c2 := dialRaw(t, srv, query)
	c2.sendText(v2(q("34"), q("34"), kick, "phx_join", `{}`))
	got = append(got, presenceFrames(t, c2, 2)...)
	comparePresence(t, got, recordedPresence(t, "room:kick"), subst)
}

func TestPresenceTranscriptFrames(t *testing.T) {
	t.Parallel()
	t.Run("window=0", func(t *testing.T) {
		t.Parallel()
		replayPresence(t, startServer(t, "-presence-window", "-1s"), 20*time.Millisecond)
	})
	t.Run("default window, recorded pauses", func(t *testing.T) {
		t.Parallel()
		replayPresence(t, shared, 120*time.Millisecond)
	})
}

// transcript-extra.txt: V1 clients carol (vsn=1.0.0) and dave (no vsn) on
// room:v1. Recorded, both joined at once and each got two diffs then the
// state of both; here dave joins after carol's state arrived, so carol's
// state holds carol only and her third presence frame is dave's diff. The
// V1 envelope ("ref":null, no join_ref) and the payloads must match.
func TestPresenceTranscriptV1(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(transcriptDir + "transcript-extra.txt")
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		query, frame, ok := strings.Cut(l, " << ")
		if ok && !strings.HasPrefix(l, "#") && isPresenceFrame([]byte(frame)) {
			rec[query] = append(rec[query], frame)
		}
	}
	cq, dq := "vsn=1.0.0&token=user:carol", "token=user:dave"
	if len(rec[cq]) != 3 || len(rec[dq]) != 3 {
		t.Fatalf("recorded presence frames: %v", rec)
	}
	srv := startServer(t, "-presence-window", "-1s")
	carol, dave, room := uniq("tvc"), uniq("tvd"), "room:"+uniq("tv1")
	subst := strings.NewReplacer(`"carol"`, q(carol), `"dave"`, q(dave), `"room:v1"`, q(room))
	cc := dialRaw(t, srv, "vsn=1.0.0&token=user:"+carol)
	cc.sendText(v1("", q("1"), room, "phx_join", `{}`))
	gotC := presenceFrames(t, cc, 2)
	dc := dialRaw(t, srv, "token=user:"+dave)
	dc.sendText(v1("", q("1"), room, "phx_join", `{}`))
	gotD := presenceFrames(t, dc, 2)
	gotC = append(gotC, presenceFrames(t, cc, 1)...)
	// Recorded: diff(carol), diff(dave), state(carol, dave), for both.
	diffC, diffD, state := rec[cq][0], rec[cq][1], rec[cq][2]
	stateC := strings.Replace(state, `,"dave":{"metas":[{"online_at":1795876061135,"phx_ref":"GOw7wzyVuLvubwGB"}]}`, "", 1)
	if stateC == state {
		t.Fatalf("cannot cut dave out of the recorded state %s", state)
	}
	comparePresence(t, gotC, []string{diffC, stateC, diffD}, subst)
	comparePresence(t, gotD, []string{diffD, state}, subst)
	if rec[dq][2] != state {
		t.Errorf("recorded states differ between carol and dave: %s / %s", state, rec[dq][2])
	}
}
