package compare

import (
	"strings"
	"testing"
)

// Unit tests of each rule kind, on hand-made transcripts.

// fr makes a frame entry; payload is JSON.
func fr(t *testing.T, c int, d Dir, jr, ref any, topic, event, payload string) Entry {
	t.Helper()
	p, err := decodeJSON([]byte(payload))
	if err != nil {
		t.Fatalf("%s: %v", payload, err)
	}
	return Entry{Client: c, Dir: d, Msg: Msg{JoinRef: jr, Ref: ref, Topic: topic, Event: event, Payload: p}}
}

func info(c int, s string) Entry { return Entry{Client: c, Dir: Info, Info: s} }

func tr(steps ...[]Entry) *Transcript {
	t := &Transcript{Clients: []string{"a#0", "b#0"}}
	for i, es := range steps {
		t.Steps = append(t.Steps, Step{Title: "step " + string(rune('1'+i)), Entries: es})
	}
	return t
}

// rule parses one rule.
func rule(t *testing.T, js string) []Rule {
	t.Helper()
	r, err := ParseRules([]byte(`{"rules":[` + js + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// norm normalises and renders.
func norm(tr *Transcript, rules []Rule) string {
	Normalise(tr, rules)
	return strings.Join(tr.Lines(), "\n")
}

func TestRenumberRefs(t *testing.T) {
	r := rule(t, `{"name":"refs","kind":"renumber_refs"}`)
	mk := func(base int) *Transcript {
		j, p := jsonNum(base), jsonNum(base+1)
		return tr([]Entry{
			fr(t, 0, Send, j, j, "room:a", "phx_join", `{}`),
			fr(t, 0, Recv, j, j, "room:a", "phx_reply", `{"response":{},"status":"ok"}`),
			fr(t, 1, Send, nil, "1", "room:a", "phx_join", `{}`),
		}, []Entry{
			fr(t, 0, Send, j, p, "room:a", "echo", `{}`),
			fr(t, 0, Recv, j, p, "room:a", "phx_reply", `{"response":{},"status":"ok"}`),
		})
	}
	a, b := norm(mk(1), r), norm(mk(40), r)
	if a != b {
		t.Errorf("numbering still shows:\n%s\n---\n%s", a, b)
	}
	for _, want := range []string{
		`a#0 -> ["#1","#1","room:a","phx_join",{}]`,
		`a#0 <- ["#1","#2","room:a","phx_reply",{"response":{},"status":"ok"}]`,
		`b#0 -> [null,"#1","room:a","phx_join",{}]`, // each client counts on its own
	} {
		if !strings.Contains(a, want) {
			t.Errorf("lacks %s:\n%s", want, a)
		}
	}
	// which frames share a ref is kept: a reply to the wrong ref differs
	c := mk(1)
	c.Steps[1].Entries[1].Msg.Ref = "1"
	if norm(c, r) == a {
		t.Error("a reply carrying another request's ref compared equal")
	}
}

func jsonNum(n int) string { return strings.TrimSpace(encodeJSON(n)) }

func TestReplaceKeys(t *testing.T) {
	r := rule(t, `{"name":"p","kind":"replace_keys","events":["presence_state"],"keys":["phx_ref","online_at"],"with":"<x>"}`)
	got := norm(tr([]Entry{
		fr(t, 0, Recv, "1", nil, "room:a", "presence_state", `{"u":{"metas":[{"online_at":17,"phx_ref":"F1","status":"away"}]}}`),
		fr(t, 0, Recv, nil, nil, "room:a", "new_msg", `{"phx_ref":"kept"}`),
	}), r)
	for _, want := range []string{
		`{"u":{"metas":[{"online_at":"<x>","phx_ref":"<x>","status":"away"}]}}`,
		`{"phx_ref":"kept"}`, // other events are left alone
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %s:\n%s", want, got)
		}
	}
}

func TestReplacePattern(t *testing.T) {
	r := rule(t, `{"name":"ids","kind":"replace_pattern","pattern":"[0-9a-f]{8}","with":"<id>"}`)
	got := norm(tr([]Entry{
		fr(t, 0, Recv, nil, nil, "room:deadbeef", "new_msg", `{"body":"from 0badf00d","list":["cafebabe",1],"k12345678":true}`),
		info(0, "connect ?token=abcdef01: open (101)"),
	}), r)
	want := `  a#0 <- [null,null,"room:<id>","new_msg",{"body":"from <id>","k<id>":true,"list":["<id>",1]}]` + "\n" +
		`  a#0 ** connect ?token=<id>: open (101)`
	if !strings.Contains(got, want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDropEvents(t *testing.T) {
	r := rule(t, `{"name":"hb","kind":"drop_events","events":["heartbeat","phx_reply"],"topics":["phoenix"]}`)
	got := norm(tr([]Entry{
		fr(t, 0, Send, nil, "1", "phoenix", "heartbeat", `{}`),
		fr(t, 0, Recv, nil, "1", "phoenix", "phx_reply", `{"response":{},"status":"ok"}`),
		fr(t, 0, Recv, nil, "2", "room:a", "phx_reply", `{"response":{},"status":"ok"}`),
	}), r)
	if strings.Contains(got, "phoenix") || !strings.Contains(got, "room:a") {
		t.Errorf("got\n%s", got)
	}
}

const (
	diffJoinA = `{"joins":{"a":{"metas":[{"phx_ref":"1"}]}},"leaves":{}}`
	diffJoinB = `{"joins":{"b":{"metas":[{"phx_ref":"2"}]}},"leaves":{}}`
	diffLeave = `{"joins":{},"leaves":{"c":{"metas":[{"phx_ref":"3"}]}}}`
	diffAll   = `{"joins":{"a":{"metas":[{"phx_ref":"1"}]},"b":{"metas":[{"phx_ref":"2"}]}},"leaves":{"c":{"metas":[{"phx_ref":"3"}]}}}`
)

func TestMergePresenceDiffs(t *testing.T) {
	r := rule(t, `{"name":"m","kind":"merge_presence_diffs","events":["presence_diff"]}`)
	perChange := norm(tr([]Entry{
		fr(t, 1, Recv, nil, nil, "room:a", "presence_diff", diffJoinB),
		fr(t, 1, Recv, nil, nil, "room:a", "presence_diff", diffLeave),
		fr(t, 1, Recv, nil, nil, "room:z", "presence_diff", diffLeave),
		fr(t, 1, Recv, nil, nil, "room:a", "presence_diff", diffJoinA),
	}), r)
	batched := norm(tr([]Entry{
		fr(t, 1, Recv, nil, nil, "room:a", "presence_diff", diffAll),
		fr(t, 1, Recv, nil, nil, "room:z", "presence_diff", diffLeave),
	}), r)
	if perChange != batched {
		t.Errorf("one diff per change:\n%s\nbatched:\n%s", perChange, batched)
	}
	// a diff never merges across a frame the client sent
	split := norm(tr([]Entry{
		fr(t, 1, Recv, nil, nil, "room:a", "presence_diff", diffJoinA),
		fr(t, 1, Send, nil, "1", "room:a", "echo", `{}`),
		fr(t, 1, Recv, nil, nil, "room:a", "presence_diff", diffJoinB),
	}), r)
	if strings.Count(split, "presence_diff") != 2 {
		t.Errorf("merged across a send:\n%s", split)
	}
}

func TestUnorderedEvents(t *testing.T) {
	r := rule(t, `{"name":"u","kind":"unordered_events","events":["presence_state","presence_diff"]}`)
	reply := fr(t, 0, Recv, "1", "1", "room:a", "phx_reply", `{"response":{},"status":"ok"}`)
	state := fr(t, 0, Recv, "1", nil, "room:a", "presence_state", `{}`)
	diff := fr(t, 0, Recv, nil, nil, "room:a", "presence_diff", diffJoinA)
	msg := fr(t, 0, Recv, nil, nil, "room:a", "new_msg", `{}`)
	a := norm(tr([]Entry{reply, state, diff, msg}), r)
	b := norm(tr([]Entry{diff, reply, msg, state}), r)
	if a != b {
		t.Errorf("presence order still shows:\n%s\n---\n%s", a, b)
	}
	// the other frames keep their order
	c := norm(tr([]Entry{msg, state, reply, diff}), r)
	if c == a {
		t.Error("new_msg before the reply compared equal to after")
	}
}

func TestUnorderedTopics(t *testing.T) {
	r := rule(t, `{"name":"t","kind":"unordered_topics"}`)
	a1 := fr(t, 0, Recv, nil, nil, "room:a", "new_msg", `{"n":1}`)
	a2 := fr(t, 0, Recv, nil, nil, "room:a", "new_msg", `{"n":2}`)
	b1 := fr(t, 0, Recv, nil, nil, "room:b", "new_msg", `{"n":1}`)
	x := norm(tr([]Entry{a1, b1, a2}), r)
	y := norm(tr([]Entry{b1, a1, a2}), r)
	if x != y {
		t.Errorf("interleaving across topics still shows:\n%s\n---\n%s", x, y)
	}
	z := norm(tr([]Entry{a2, b1, a1}), r)
	if z == x {
		t.Error("order within one topic was lost")
	}
	// a close ends the run: frames after it stay after it
	w := norm(tr([]Entry{b1, info(0, "close 1001"), a1}), r)
	if !strings.HasSuffix(w, `"room:a","new_msg",{"n":1}]`) {
		t.Errorf("a frame moved across the close:\n%s", w)
	}
}

func TestLinesGroupClients(t *testing.T) {
	got := tr([]Entry{
		fr(t, 1, Recv, nil, nil, "room:a", "new_msg", `{}`),
		fr(t, 0, Send, nil, "1", "room:a", "new_msg", `{"body":"<&>"}`),
		info(1, "close 1000 \"\""),
	}).Lines()
	want := []string{
		"== step 1",
		`  a#0 -> [null,"1","room:a","new_msg",{"body":"<&>"}]`,
		`  b#0 <- [null,null,"room:a","new_msg",{}]`,
		`  b#0 ** close 1000 ""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
