package compat_test

// phoenix.js over its LongPoll transport (EXAMPLE_APP.md "Connect",
// PROTOCOL.md §5, §8.5). phoenix.js 1.8 uses fetch in Node; 1.7 needs
// XMLHttpRequest, which js/xhr.js provides over fetch.

import (
	"encoding/json"
	"testing"
)

func TestJSLongPoll(t *testing.T) {
	t.Parallel()
	forEachLib(t, func(t *testing.T, lib jsLib) {
		id := uniq("lp" + libTag(lib))
		res := runJS[struct {
			Opened     bool              `json:"opened"`
			Join       jsReply           `json:"join"`
			Echo       jsReply           `json:"echo"`
			NewMsg     jsReply           `json:"new_msg"`
			Broadcasts []json.RawMessage `json:"broadcasts"`
			Ping       bool              `json:"ping"`
			Events     []jsEvent         `json:"events"`
		}](t, shared, lib, "lp_accepted", userRoom(id))
		if !res.Opened {
			t.Fatalf("LongPoll socket did not open: %s", describe(res.Events))
		}
		assertReply(t, "join", res.Join, "ok", `{}`)
		assertReply(t, "echo", res.Echo, "ok", `{"via":"longpoll","u":"ü ✓"}`)
		assertReply(t, "new_msg", res.NewMsg, "ok", `{}`)
		assertSameJSONSet(t, "new_msg broadcasts", res.Broadcasts, []string{`{"user":"` + id + `","body":"over longpoll"}`})
		if !res.Ping {
			t.Errorf("heartbeat over LongPoll got no reply")
		}
		if n := count(res.Events, "close") + count(res.Events, "error"); n != 0 {
			t.Errorf("LongPoll socket closed or errored: %s", describe(res.Events))
		}
	})
}

// A rejected LongPoll connect: the client never opens, its onMessage sees
// the phx_connect_error message, then onError(403) and onClose 1008
// "forbidden" (phoenix.js's own code for a 403 poll).
func TestJSLongPollRejected(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "-reject-brake", "0")
	for _, tc := range rejectCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachLib(t, func(t *testing.T, lib jsLib) {
				args := map[string]any{"cooperative": false, "observeMs": 300, "topic": "room:lobby", "longpoll": true}
				if tc.token != nil {
					args["token"] = *tc.token
				}
				res := runJS[rejectedResult](t, srv, lib, "rejected", args)
				evs := socketLevel(untilMark(res.Events, "stop"))
				if len(evs) < 3 || evs[0].Type != "message" || evs[1].Type != "error" || evs[2].Type != "close" {
					t.Fatalf("want [message phx_connect_error, error 403, close 1008], got %s", describe(evs))
				}
				checkConnectErrorMessage(t, evs[0], tc.payload)
				if evs[1].Message != "403" {
					t.Errorf("onError: got %s, want 403", evs[1])
				}
				if c := evs[2]; c.Code != 1008 || c.Reason != "forbidden" {
					t.Errorf("close: got %s, want 1008 \"forbidden\"", c)
				}
				if n := count(evs, "open"); n != 0 {
					t.Errorf("a rejected LongPoll client must never open: %s", describe(evs))
				}
				if res.JoinReply != nil {
					t.Errorf("the buffered join got a reply %+v", *res.JoinReply)
				}
			})
		})
	}
}
