package compat_test

import (
	"strings"
	"testing"
)

// Frames phoenix.js never sends but other clients may. Real Phoenix 1.7,
// on a socket joined with join_ref "1", answers each of these (recorded
// against it) and keeps the socket; so must phxd. Each reply is compared
// as JSON; the socket must still be open at the end.
func TestWireToleratesWhatPhoenixAccepts(t *testing.T) {
	t.Parallel()
	c, id := wireUser(t, "tol")
	topic := "room:" + id
	c.join(topic, "1")
	cases := []struct{ name, in, want string }{
		{"non-string topic", `[null,"21",42,"phx_join",{}]`,
			`[null,"21",42,"phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]`},
		{"sixth element", v2(q("1"), q("22"), topic, "echo", `{},"extra"`),
			v2(q("1"), q("22"), topic, "phx_reply", reply("ok", `{}`))},
		{"numeric ref", v2(q("1"), `23`, topic, "echo", `{}`),
			v2(q("1"), `23`, topic, "phx_reply", reply("ok", `{}`))},
		{"null join_ref", v2("null", q("24"), topic, "echo", `{}`),
			v2(q("1"), q("24"), topic, "phx_reply", reply("ok", `{}`))},
		{"string payload", v2(q("1"), q("25"), topic, "echo", `"str"`),
			v2(q("1"), q("25"), topic, "phx_reply", reply("ok", `"str"`))},
		{"stale join_ref", v2(q("zz"), q("27"), topic, "echo", `{}`),
			v2(q("1"), q("27"), topic, "phx_reply", reply("ok", `{}`))},
		{"leave of a topic not joined", v2(q("9"), q("28"), "room:nowhere", "phx_leave", `{}`),
			v2(q("9"), q("28"), "room:nowhere", "phx_reply", reply("ok", `{}`))},
		{"topic over the limit", v2(q("1"), q("29"), "room:"+strings.Repeat("x", 2000), "phx_join", `{}`),
			v2("null", q("29"), "", "phx_reply", reply("error", `{"reason":"topic too long"}`))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.sendText(tc.in)
			c.expectText(tc.want)
		})
	}
	c.t = t
	c.sendText(v2("null", q("30"), "phoenix", "heartbeat", `{}`))
	c.expectText(v2("null", q("30"), "phoenix", "phx_reply", reply("ok", `{}`)))
}
