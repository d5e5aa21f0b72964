package scenario

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"
)

const testdataDir = "../../../../testdata/phxbench"

// TestExampleScenarios checks that every documented example is valid.
func TestExampleScenarios(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testdataDir, "*.json"))
	if len(files) < 5 {
		t.Fatalf("found %d examples in %s", len(files), testdataDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			sc, err := LoadScenario(f)
			if err != nil {
				t.Fatal(err)
			}
			if sc.Description == "" {
				t.Error("examples should say what they do in description")
			}
		})
	}
}

// TestBadScenarios checks that each broken file fails with a clear error.
func TestBadScenarios(t *testing.T) {
	want := map[string]string{
		"no_action":             "steps[0]: a step needs exactly one action",
		"two_actions":           "found 2",
		"unknown_field":         `unknown field "topc"`,
		"misplaced_field":       `sleep step: field "count" does not apply (allowed: jitter)`,
		"push_without_join":     `push step: "topic" is required (no join before this step)`,
		"unbounded_repeat":      "a loop must be bounded",
		"bad_duration":          `bad duration "10 parsecs"`,
		"no_duration":           `"duration" must be positive`,
		"http_url":              "scheme must be ws or http (wss and https are not supported)",
		"binary_v1":             "binary payloads need vsn 2.0.0",
		"unknown_placeholder":   "unknown placeholder {{user}}",
		"barrier_in_repeat":     "only allowed at the top level",
		"zero_count":            `groups[0] "g": "count" must be at least 1`,
		"bad_vsn":               "matches neither ~> 1.0.0 nor ~> 2.0.0",
		"duplicate_group":       `duplicate group name "g"`,
		"binary_object_payload": `"payload" must be a JSON string`,
		"stamp_in_topic":        "{{stamp}} is only allowed in a push payload",
		"syntax":                "invalid JSON at line 5",
	}
	files, _ := filepath.Glob(filepath.Join(testdataDir, "bad", "*.json"))
	if len(files) != len(want) {
		t.Errorf("%d bad files, %d expectations", len(files), len(want))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			_, err := LoadScenario(f)
			if err == nil {
				t.Fatal("no error")
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for %s (error: %v)", name, err)
			}
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q\nwant it to contain %q", err, w)
			}
			if !strings.HasPrefix(err.Error(), f+": ") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestBuiltins(t *testing.T) {
	o := BuiltinOptions{URL: "ws://127.0.0.1:4000/socket/websocket", Vsn: "2.0.0", Token: "user:b{{id}}",
		N: 100, Msgs: 10, Inflight: 5, Rate: 200, Ramp: 1000, D: 2 * time.Second}
	for _, name := range BuiltinNames {
		sc, ok, err := Builtin(name, o)
		if !ok || err != nil {
			t.Fatalf("%s: ok %v err %v", name, ok, err)
		}
		p, err := Compile(sc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Total < 100 {
			t.Errorf("%s: %d clients", name, p.Total)
		}
	}
	if _, ok, _ := Builtin("nope", o); ok {
		t.Error("unknown built-in accepted")
	}
	o.Binary = true
	sc, _, err := Builtin("echo", o)
	if err != nil || !sc.Groups[0].Steps[3].Steps[0].Binary {
		t.Errorf("binary echo: %v", err)
	}
}

func TestCompileDetails(t *testing.T) {
	sc, err := ParseScenario(strings.NewReader(`{"url": "ws://localhost:4000/socket/websocket", "duration": 1.5,
	  "groups": [{"name": "g", "count": 3, "params": {"token": "user:{{group}}{{n}}", "a b": "x&y"}, "steps": [
	    {"join": "room:{{id}}"}, {"push": "echo", "expect": "any"}, {"wait": "ev"}, {"leave": "room:{{id}}"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "duration", sc.Duration.D(), 1500*time.Millisecond)
	check.Eq(t, "addr", p.Targets[0].Addr, [4]byte{127, 0, 0, 1})
	check.Eq(t, "loopback", p.Loopback, true)
	g := p.Groups[0]
	check.Eq(t, "topics", len(g.Topics), 1)
	check.Eq(t, "push topic", g.Ops[1].Topic, 0)
	check.Eq(t, "expect any", g.Ops[1].Expect, "")
	check.Eq(t, "inflight default", g.Inflight, 1)
	v := TmplVars{ID: 7, N: 2, Group: "g"}
	check.Eq(t, "query", g.Query("/socket/websocket", &v), "/socket/websocket?a+b=x%26y&token=user%3Ag2&vsn=2.0.0")
	check.Eq(t, "topic", g.Topics[0].Str(&v), "room:7")
	check.Eq(t, "heartbeat default", sc.Heartbeat.D(), defaultHeartbeat)
}

// A comma-separated URL list deals each group's clients round-robin over
// the servers, the first client of every group (a lone publisher) on the
// first server.
func TestURLList(t *testing.T) {
	sc, err := ParseScenario(strings.NewReader(`{"url": "ws://127.0.0.1:4001/socket/websocket, ws://127.0.0.2:4002/s/longpoll,http://127.0.0.3:4003/socket/websocket",
	  "duration": 1, "groups": [{"name": "subs", "count": 9, "steps": [{"join": "t"}]}, {"name": "pub", "count": 1, "steps": [{"join": "t"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "targets", len(p.Targets), 3)
	check.Eq(t, "loopback", p.Loopback, true)
	check.Eq(t, "second port", p.Targets[1].Port, 4002)
	check.Eq(t, "second addr", p.Targets[1].Addr, [4]byte{127, 0, 0, 2})
	check.Eq(t, "second ws path", p.Targets[1].WSPath, "/s/websocket")
	check.Eq(t, "third host", p.Targets[2].Host, "127.0.0.3:4003")
	var per [3]int
	for n := range p.Groups[0].Count {
		per[p.TargetOf(n)]++
	}
	check.Eq(t, "subscribers per server", per, [3]int{3, 3, 3})
	check.Eq(t, "publisher's server", p.TargetOf(0), 0)
	for _, bad := range []string{"ws://127.0.0.1:1/socket/websocket,", "ws://127.0.0.1:1/x,wss://127.0.0.1:2/x", " , "} {
		_, err := ParseScenario(strings.NewReader(`{"url": "` + bad + `", "duration": 1, "groups": [{"name": "g", "count": 1, "steps": [{"join": "t"}]}]}`))
		if err == nil {
			t.Errorf("url %q accepted", bad)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{`"250ms"`: 250 * time.Millisecond, `2`: 2 * time.Second, `0.5`: 500 * time.Millisecond} {
		var d Duration
		if err := d.UnmarshalJSON([]byte(in)); err != nil || d.D() != want {
			t.Errorf("%s: %v %v", in, d.D(), err)
		}
	}
	var d Duration
	if d.UnmarshalJSON([]byte(`true`)) == nil {
		t.Error("true accepted as a duration")
	}
	b, _ := Duration(90 * time.Second).MarshalJSON()
	check.Eq(t, "marshal", string(b), `"1m30s"`)
}
