package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxsoak/attack"
)

// phxdBin is the phxd the tests attack, built once by TestMain.
var phxdBin string

// testAPIKey is the PHXD_API_KEY the tests give phxd.
const testAPIKey = "phxsoak-test-key"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "phxsoak-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if phxdBin, err = buildPhxd(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	return m.Run()
}

// runAttack runs one attack alone for d against a fresh phxd started with
// args, probing a fresh client every second, with the 1 GB safety cap.
func runAttack(t *testing.T, name string, d time.Duration, sockets int, args ...string) *Report {
	t.Helper()
	a, err := attack.ByName(name)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := runSoak(t.Context(), soakOptions{
		phxd: phxdBin, phxdArgs: args, apiKey: testAPIKey, duration: d,
		attacks: []attack.Attack{a}, sockets: sockets, rssCap: 1 << 30,
		freshEvery: time.Second, dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Attacks[0]
	t.Logf("%s: peak RSS %s, fds %d, goroutines %d, sockets %d, LongPoll sessions %d, log %d lines %d B (longest %d B); fresh %d/%d; %s",
		name, mb(rep.Peaks.RSS), rep.Peaks.FDs, rep.Peaks.Goroutines, rep.Peaks.OpenSockets,
		rep.Peaks.LongPollSessions, rep.LogLines, rep.LogBytes, rep.LongestLogLine,
		r.Fresh.Served, r.Fresh.Probes, r.Result.Summary())
	return rep
}

// assertBounded fails t unless phxd survived the attack under maxRSS with
// every fresh client served, and the attack's answers were as expected.
func assertBounded(t *testing.T, rep *Report, maxRSS int64) {
	t.Helper()
	if rep.Aborted != "" {
		t.Errorf("run aborted: %s", rep.Aborted)
	}
	if rep.Peaks.Samples == 0 {
		t.Errorf("no /proc sample of phxd was taken")
	}
	if rep.Peaks.RSS >= maxRSS {
		t.Errorf("peak RSS %s, want under %s", mb(rep.Peaks.RSS), mb(maxRSS))
	}
	for _, a := range rep.Attacks {
		if a.Fresh.Probes < 2 || a.Fresh.Served != a.Fresh.Probes {
			t.Errorf("%s: fresh clients served %d of %d probes (want every one, at least 2): %v",
				a.Name, a.Fresh.Served, a.Fresh.Probes, a.Fresh.Failures)
		}
		for _, p := range a.Problems {
			t.Errorf("%s: %s", a.Name, p)
		}
	}
}

// rss256 is the bound on peak RSS for holes 1, 2, 4 and 8.
const rss256 = 256 << 20

// perAddrFlagRE matches the name of phxd's per-address concurrent
// connection cap, whatever its exact spelling.
var perAddrFlagRE = regexp.MustCompile(`^\s+-((?:max-)?(?:conns?-)?per-?(?:addr|address|ip)(?:-conns?)?)\s+int`)

// perAddrArgs returns the phxd flags that turn on a per-address cap of n
// concurrent connections: $PHXSOAK_PER_ADDR_ARGS when set, else the one flag
// of `phxd -h` whose name says so.
func perAddrArgs(t *testing.T, n int) []string {
	t.Helper()
	if env := os.Getenv("PHXSOAK_PER_ADDR_ARGS"); env != "" {
		return strings.Fields(env)
	}
	out, _ := exec.Command(phxdBin, "-h").CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if m := perAddrFlagRE.FindStringSubmatch(line); m != nil && !strings.Contains(m[1], "rate") {
			return []string{fmt.Sprintf("-%s=%d", m[1], n)}
		}
	}
	t.Fatalf("phxd has no per-address connection cap flag (an int flag named like -max-conns-per-addr; "+
		"set PHXSOAK_PER_ADDR_ARGS to name it): hole 10 is not fixed\n%s", out)
	return nil
}
