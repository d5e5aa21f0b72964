package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxsoak/attack"
)

// TestSoakAllAtOnce is `make soak` in small: every attack at once against
// one phxd for 8 s while two phoenix.js clients chat, judged with the
// command's default bounds.
func TestSoakAllAtOnce(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed for the chat: %v", err)
	}
	rep, err := runSoak(t.Context(), soakOptions{
		phxd: phxdBin, apiKey: testAPIKey, duration: 8 * time.Second, attacks: attack.All,
		rssCap: 1 << 30, freshEvery: time.Second, dir: t.TempDir(),
		chat: &chatOptions{node: node, nodeModules: "../../compat_test/node_modules", clients: 2, rate: 5,
			duration: 8 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	// No latency bound here: the chat's p99 is a figure of `make soak`, and
	// this test shares the machine with the whole suite. Every push must
	// still be answered (see judge).
	judge(rep, bounds{maxRSS: 256 << 20, maxFDs: 4096, maxGoroutines: 4096,
		fresh: true, maxLogLine: 4096, maxLogRate: 4 << 20})
	var md bytes.Buffer
	writeMarkdown(&md, rep)
	t.Logf("\n%s", md.String())

	if len(rep.Attacks) != len(attack.All) {
		t.Fatalf("%d attacks reported, want %d", len(rep.Attacks), len(attack.All))
	}
	for _, a := range rep.Attacks {
		if a.Result.Conns == 0 && a.Result.Sent == 0 {
			t.Errorf("attack %s neither connected nor sent", a.Name)
		}
	}
	if !strings.Contains(md.String(), "| hole | attack |") || !strings.Contains(md.String(), "| peak RSS |") {
		t.Errorf("markdown report lacks its tables")
	}
	var js bytes.Buffer
	if err := writeJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Checks) != len(rep.Checks) {
		t.Errorf("JSON report does not read back: %v", err)
	}
	if c := rep.Chat; c == nil || c.Version != "1.8.16" || c.Sent == 0 {
		t.Errorf("the phoenix.js chat did not run as 1.8.16 and send: %+v", c)
	}
	for _, c := range rep.Checks {
		if !c.OK {
			t.Errorf("bound exceeded: %s = %s (bound %s)", c.Name, c.Value, c.Limit)
		}
	}
}
