package phx

import (
	"strings"
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

// Frames phoenix.js never sends but other clients may, answered as Phoenix
// 1.7 answers them (a transcript of real Phoenix on one socket joined to
// room:lobby with join_ref "1"), each on a socket that stays open.

// fidelityCase is one frame and the exact reply, per version.
type fidelityCase struct {
	name        string
	v2In, v2Out string
	v1In, v1Out string
}

// v1Reply is a V1 phx_reply frame.
func v1Reply(ref, topic, response, status string) string {
	return `{"event":"phx_reply","payload":{"response":` + response + `,"status":"` + status + `"},"ref":` + ref + `,"topic":` + topic + `}`
}

var fidelityCases = []fidelityCase{
	{"non-string topic join",
		`[null,"21",42,"phx_join",{}]`,
		`[null,"21",42,"phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`,
		`{"topic":42,"event":"phx_join","payload":{},"ref":"21"}`,
		v1Reply(`"21"`, `42`, `{"reason":"unmatched topic"}`, "error")},
	{"sixth element (V1: unknown key)",
		`["1","22","room:lobby","echo",{},"extra"]`,
		`["1","22","room:lobby","phx_reply",{"response":{},"status":"ok"}]`,
		`{"topic":"room:lobby","event":"echo","payload":{},"ref":"22","join_ref":"1","extra":"x"}`,
		v1Reply(`"22"`, `"room:lobby"`, `{}`, "ok")},
	{"numeric ref",
		`["1",23,"room:lobby","echo",{}]`,
		`["1",23,"room:lobby","phx_reply",{"response":{},"status":"ok"}]`,
		`{"topic":"room:lobby","event":"echo","payload":{},"ref":23,"join_ref":"1"}`,
		v1Reply(`23`, `"room:lobby"`, `{}`, "ok")},
	{"null join_ref",
		`[null,"24","room:lobby","echo",{}]`,
		`["1","24","room:lobby","phx_reply",{"response":{},"status":"ok"}]`,
		`{"topic":"room:lobby","event":"echo","payload":{},"ref":"24","join_ref":null}`,
		v1Reply(`"24"`, `"room:lobby"`, `{}`, "ok")},
	{"string payload",
		`["1","25","room:lobby","echo","str"]`,
		`["1","25","room:lobby","phx_reply",{"response":"str","status":"ok"}]`,
		`{"topic":"room:lobby","event":"echo","payload":"str","ref":"25","join_ref":"1"}`,
		v1Reply(`"25"`, `"room:lobby"`, `"str"`, "ok")},
	{"array payload",
		`["1","26","room:lobby","echo",[1,"two"]]`,
		`["1","26","room:lobby","phx_reply",{"response":[1,"two"],"status":"ok"}]`,
		`{"topic":"room:lobby","event":"echo","payload":[1,"two"],"ref":"26"}`,
		v1Reply(`"26"`, `"room:lobby"`, `[1,"two"]`, "ok")},
	{"stale join_ref",
		`["zz","27","room:lobby","echo",{}]`,
		`["1","27","room:lobby","phx_reply",{"response":{},"status":"ok"}]`,
		`{"topic":"room:lobby","event":"echo","payload":{},"ref":"27","join_ref":"zz"}`,
		v1Reply(`"27"`, `"room:lobby"`, `{}`, "ok")},
	{"leave of a topic not joined",
		`["9","28","room:nowhere","phx_leave",{}]`,
		`["9","28","room:nowhere","phx_reply",{"response":{},"status":"ok"}]`,
		`{"topic":"room:nowhere","event":"phx_leave","payload":{},"ref":"28","join_ref":"9"}`,
		v1Reply(`"28"`, `"room:nowhere"`, `{}`, "ok")},
	// Our choices where the transcript is silent, following Phoenix's code:
	// a topic that is not a string names no channel; an event that is not a
	// string is refused before the channel.
	{"non-string topic push",
		`["1","29",{"a":[1]},"echo",{}]`,
		`[null,"29",{"a":[1]},"phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`,
		`{"topic":{"a":[1]},"event":"echo","payload":{},"ref":"29"}`,
		v1Reply(`"29"`, `{"a":[1]}`, `{"reason":"unmatched topic"}`, "error")},
	{"non-string topic leave",
		`["1","30",null,"phx_leave",{}]`,
		`["1","30",null,"phx_reply",{"response":{},"status":"ok"}]`,
		`{"topic":null,"event":"phx_leave","payload":{},"ref":"30"}`,
		v1Reply(`"30"`, `null`, `{}`, "ok")},
	{"non-string event on a joined topic",
		`["1","31","room:lobby",5,{}]`,
		`[null,"31","room:lobby","phx_reply",{"response":{"reason":"invalid event"},"status":"error"}]`,
		`{"topic":"room:lobby","event":5,"payload":{},"ref":"31"}`,
		v1Reply(`"31"`, `"room:lobby"`, `{"reason":"invalid event"}`, "error")},
	{"non-string event on a topic not joined",
		`["1","32","room:other",["phx_join"],{}]`,
		`[null,"32","room:other","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`,
		`{"topic":"room:other","event":["phx_join"],"payload":{},"ref":"32"}`,
		v1Reply(`"32"`, `"room:other"`, `{"reason":"unmatched topic"}`, "error")},
	{"heartbeat with numeric ref",
		`[null,33,"phoenix","heartbeat",{}]`,
		`[null,33,"phoenix","phx_reply",{"response":{},"status":"ok"}]`,
		`{"topic":"phoenix","event":"heartbeat","payload":{},"ref":33}`,
		v1Reply(`33`, `"phoenix"`, `{}`, "ok")},
}

// joinLobby joins room:lobby with join_ref "1" and ref "1".
func joinLobby(h *harness) {
	h.t.Helper()
	if h.ver == serializer.V1 {
		h.in(`{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`)
		h.expect(v1Reply(`"1"`, `"room:lobby"`, `{"n":1}`, "ok"))
		return
	}
	h.in(`["1","1","room:lobby","phx_join",{}]`)
	h.expect(`["1","1","room:lobby","phx_reply",{"response":{"n":1},"status":"ok"}]`)
}

// expectOpen asserts the transport was never closed.
func (h *harness) expectOpen() {
	h.t.Helper()
	h.tr.mu.Lock()
	defer h.tr.mu.Unlock()
	if len(h.tr.closed) != 0 {
		h.t.Fatalf("socket closed with %v", h.tr.closed)
	}
}

func TestPhoenixFidelity(t *testing.T) {
	bothVersions(t, func(t *testing.T, ver serializer.Version) {
		srv := newServerForTest(t, Config{})
		srv.Channel("room:*", &testChannel{})
		h := srv.connectForTest(t, ver, Assigns{})
		joinLobby(h)
		for _, c := range fidelityCases {
			t.Run(c.name, func(t *testing.T) {
				h.t = t
				in, out := c.v2In, c.v2Out
				if ver == serializer.V1 {
					in, out = c.v1In, c.v1Out
				}
				h.in(in)
				h.expect(out)
				h.expectNone()
				h.expectOpen()
			})
		}
		h.t = t
		if n := h.sock.NumChannels(); n != 1 {
			t.Fatalf("%d channels, want room:lobby only", n)
		}
	})
}

// TestLeaveJoinRefRule pins Phoenix's phx_leave rule: a channel joined with
// a join_ref leaves only for a leave naming it (a null or stale one is
// ignored, unanswered); a channel joined without one leaves for any.
func TestLeaveJoinRefRule(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	joinLobby(h)
	h.in(`["zz","2","room:lobby","phx_leave",{}]`)
	h.in(`[null,"3","room:lobby","phx_leave",{}]`)
	h.expectNone()
	h.in(`["1","4","room:lobby","echo",{}]`)
	h.expect(`["1","4","room:lobby","phx_reply",` + okEmpty + `]`)
	h.in(`["1","5","room:lobby","phx_leave",{}]`)
	h.expect(`["1","5","room:lobby","phx_reply",` + okEmpty + `]`)
	h.expect(`["1","1","room:lobby","phx_close",{}]`)

	// Joined without a join_ref: any leave leaves it. Phoenix stores the
	// client's join_ref (null) for the join reply and the close frames,
	// while the channel's own replies and pushes carry the join's ref.
	h.in(`[null,"6","room:b","phx_join",{}]`)
	h.expect(`[null,"6","room:b","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	h.in(`["zz","61","room:b","push",{}]`)
	h.expect(`["6",null,"room:b","pushed",{"a":1}]`)
	h.expect(`["6","61","room:b","phx_reply",` + okEmpty + `]`)
	h.in(`["zz","7","room:b","phx_leave",{}]`)
	h.expect(`["6","7","room:b","phx_reply",` + okEmpty + `]`)
	h.expect(`[null,null,"room:b","phx_close",{}]`)
	h.expectNone()
	h.expectOpen()
}

// TestNullJoinRefCloseFrames pins the frames of a channel joined with a
// null join_ref: a refused join's reply and a crash's phx_error carry null
// as join_ref (and as ref for phx_error), as Phoenix sends them.
func TestNullJoinRefCloseFrames(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.in(`[null,"1","room:d","phx_join",{"deny":true}]`)
	h.expect(`[null,"1","room:d","phx_reply",{"response":{"reason":"denied"},"status":"error"}]`)
	h.in(`[null,"2","room:c","phx_join",{}]`)
	h.expect(`[null,"2","room:c","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	h.in(`[null,"3","room:c","crash",{}]`)
	if f := h.next(); !strings.HasPrefix(f, `[null,null,"room:c","phx_error",`) {
		t.Fatalf("got %s, want phx_error with null refs", f)
	}
	h.expectNone()
	h.expectOpen()
}
