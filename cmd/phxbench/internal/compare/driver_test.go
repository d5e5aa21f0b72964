package compare

import (
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/phxdtest"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

// compile parses a scenario for server (http://host:port).
func compile(t *testing.T, server, js string) *scenario.Program {
	t.Helper()
	sc, err := scenario.ParseScenarioBytes([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if sc.URL, err = socketURL(server); err != nil {
		t.Fatal(err)
	}
	p, err := scenario.Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const header = `"name":"t","description":"d","url":"ws://127.0.0.1:1/socket/websocket","duration":"1m","reply_timeout":"5s",`

func testOptions() Options {
	return Options{Quiet: 100 * time.Millisecond, MaxStep: 5 * time.Second, ConnectTimeout: 5 * time.Second}
}

// TestDriverSchedule checks the order the driver runs steps in: a client
// goes on until it blocks; a wait lets the others act; a barrier releases
// once every client with it ahead stands at it; an unmet wait times out as
// a step of its own.
func TestDriverSchedule(t *testing.T) {
	srv := startPhxd(t, phxdtest.Build(t))
	p := compile(t, srv, `{`+header+`"groups":[
	  {"name":"w","count":2,"params":{"token":"user:w{{n}}"},"steps":[
	    {"join":"bench:x"},
	    {"barrier":"ready"},
	    {"wait":"new_msg","count":1},
	    {"wait":"new_msg","count":5,"timeout":"200ms"}
	  ]},
	  {"name":"p","count":1,"params":{"token":"user:p"},"steps":[
	    {"barrier":"ready"},
	    {"repeat":2,"steps":[{"push":"echo","topic":"bench:x","payload":{"seq":"{{seq}}"}}]},
	    {"join":"bench:x"},
	    {"push":"new_msg","payload":{"body":"b{{seq}}"}}
	  ]}
	]}`)
	tr, err := Run(p, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, s := range tr.Steps {
		titles = append(titles, s.Title)
	}
	want := []string{
		"w#0: connect", "w#0: join bench:x",
		"w#1: connect", "w#1: join bench:x",
		"p#0: connect", "p#0: push echo to bench:x", "p#0: push echo to bench:x",
		"p#0: join bench:x", "p#0: push new_msg to bench:x",
		"w#0: wait new_msg x5 on bench:x",
		"w#1: wait new_msg x5 on bench:x",
	}
	check.Eq(t, "steps", strings.Join(titles, " | "), strings.Join(want, " | "))
	lines := strings.Join(tr.Lines(), "\n")
	for _, s := range []string{
		`p#0 -> [null,"1","bench:x","echo",{"seq":"1"}]`,
		`p#0 -> [null,"2","bench:x","echo",{"seq":"2"}]`,
		`p#0 -> ["3","3","bench:x","phx_join",{}]`,
		`p#0 -> ["3","4","bench:x","new_msg",{"body":"b3"}]`,
		`w#1 <- [null,null,"bench:x","new_msg",{"body":"b3","user":"p"}]`,
		"w#0 ** wait timed out with 0 of 5",
	} {
		if !strings.Contains(lines, s) {
			t.Errorf("transcript lacks %s", s)
		}
	}
	if t.Failed() {
		t.Log(lines)
	}
}

func TestDriverStuck(t *testing.T) {
	srv := startPhxd(t, phxdtest.Build(t))
	p := compile(t, srv, `{`+header+`"groups":[
	  {"name":"a","count":1,"params":{"token":"user:a"},"steps":[{"join":"bench:x"},{"barrier":"one"},{"barrier":"two"}]},
	  {"name":"b","count":1,"params":{"token":"user:b"},"steps":[{"join":"bench:x"},{"barrier":"two"},{"barrier":"one"}]}
	]}`)
	if _, err := Run(p, testOptions()); err == nil || !strings.Contains(err.Error(), "stuck at a barrier") {
		t.Errorf("error %v, want stuck at a barrier", err)
	}
}

func TestCheck(t *testing.T) {
	for js, want := range map[string]string{
		`"groups":[{"name":"g","count":65,"steps":[{"join":"x"}]}]`:                                               "at most 64 clients",
		`"groups":[{"name":"g","count":1,"transport":"longpoll","auth_token":"t","steps":[{"join":"x"}]}]`:        "only sent over WebSocket",
		`"groups":[{"name":"g","count":1,"steps":[{"join":"x"},{"repeat":0,"for":"1s","steps":[{"push":"e"}]}]}]`: "not deterministic",
		`"groups":[{"name":"g","count":1,"steps":[{"join":"x"},{"repeat":10001,"steps":[{"push":"e"}]}]}]`:        "more than 10000 steps",
	} {
		err := Check(compile(t, "http://127.0.0.1:1", `{`+header+js+`}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", js, err, want)
		}
	}
}

// TestLongPollLeavesAtEnd checks that a LongPoll client's presence does
// not outlive its run: a later client sees only itself.
func TestLongPollLeavesAtEnd(t *testing.T) {
	srv := startPhxd(t, phxdtest.Build(t))
	lp := compile(t, srv, `{`+header+`"groups":[
	  {"name":"p","count":1,"transport":"longpoll","params":{"token":"user:lp"},"steps":[{"join":"room:gone"}]}]}`)
	tr, err := Run(lp, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tr.Lines(), "\n"); !strings.Contains(got, `p#0 <- ["1","1","room:gone","phx_reply",{"response":{},"status":"ok"}]`) {
		t.Fatalf("the longpoll join failed:\n%s", got)
	}
	ws := compile(t, srv, `{`+header+`"groups":[
	  {"name":"w","count":1,"params":{"token":"user:ws"},"steps":[{"join":"room:gone"}]}]}`)
	tr, err = Run(ws, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := `w#0 <- ["1",null,"room:gone","presence_state",{"ws":{"metas":[`
	if got := strings.Join(tr.Lines(), "\n"); !strings.Contains(got, want) || strings.Contains(got, `"lp"`) {
		t.Errorf("presence after the longpoll run:\n%s", got)
	}
}
