package compare

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

const testdataDir = "../../../../testdata/phxbench/compare"

// TestShippedCopies checks that the files users read in testdata are the
// ones built into the command.
func TestShippedCopies(t *testing.T) {
	for name, embedded := range map[string][]byte{"rules.json": defaultRules, "contract.json": contractScenario} {
		b, err := os.ReadFile(filepath.Join(testdataDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, embedded) {
			t.Errorf("testdata/phxbench/compare/%s differs from the embedded copy in cmd/phxbench/internal/compare", name)
		}
	}
}

func TestDefaultRulesAndScenario(t *testing.T) {
	rules, err := ParseRules(DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if r.Why == "" {
			t.Errorf("rule %q does not say why", r.Name)
		}
	}
	sc, err := scenario.ParseScenarioBytes(ContractScenario())
	if err != nil {
		t.Fatal(err)
	}
	p, err := scenario.Compile(sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(p); err != nil {
		t.Fatal(err)
	}
}

func TestBadRules(t *testing.T) {
	for in, want := range map[string]string{
		`{"rules":[{"name":"x","kind":"nope"}]}`:                          `"kind" must be one of`,
		`{"rules":[{"kind":"drop_events","events":["a"]}]}`:               `"name" is required`,
		`{"rules":[{"name":"x","kind":"replace_keys"}]}`:                  `replace_keys needs "keys"`,
		`{"rules":[{"name":"x","kind":"replace_pattern","pattern":"("}]}`: `"pattern":`,
		`{"rules":[{"name":"x","kind":"replace_pattern"}]}`:               `needs "pattern"`,
		`{"rules":[{"name":"x","kind":"drop_events"}]}`:                   `drop_events needs "events"`,
		`{"rules":[{"name":"x","kind":"renumber_refs","keys":["a"]}]}`:    `"keys" only applies to replace_keys`,
		`{"rules":[{"name":"x","kind":"renumber_refs","pattern":"a"}]}`:   `"pattern" only applies`,
		`{"rules":[{"name":"x","kind":"renumber_refs","dir":"up"}]}`:      `"dir" must be send, recv`,
		`{"rules":[{"name":"x","kind":"renumber_refs","evnts":["a"]}]}`:   `unknown field "evnts"`,
		`{"rules":[]} {}`: "trailing data",
		`{"rules":[{"name":"ok","kind":"unordered_topics"},{"name":"x","kind":1}]}`: "invalid rule file",
	} {
		_, err := ParseRules([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
}

func TestSocketURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4000":       "ws://127.0.0.1:4000/socket/websocket",
		"http://127.0.0.1:4000/":      "ws://127.0.0.1:4000/socket/websocket",
		"http://h:1/live":             "ws://h:1/live/websocket",
		"http://h:1/socket/websocket": "ws://h:1/socket/websocket",
		"ws://h:1/socket/longpoll":    "ws://h:1/socket/longpoll",
		"http://[::1]:4000/socket":    "ws://[::1]:4000/socket/websocket",
	} {
		got, err := socketURL(in)
		if err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"https://h:1", "h:1", "http://", ":"} {
		if _, err := socketURL(in); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}
