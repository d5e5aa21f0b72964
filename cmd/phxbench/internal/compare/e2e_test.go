package compare

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/phxdtest"
)

// End-to-end: real phxd processes on loopback, compared with the built-in
// scenario.

// startPhxd runs phxd with extra flags on a free loopback port and returns
// its http:// URL; the process is stopped when the test ends.
func startPhxd(t *testing.T, bin string, flags ...string) string {
	t.Helper()
	addr, _ := phxdtest.Start(t, bin, flags...)
	return "http://" + addr
}

// runCompare runs the command and returns its exit status and output.
func runCompare(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb strings.Builder
	code := Main(args, &out, &errb)
	if testing.Verbose() {
		t.Logf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	return code, out.String() + errb.String()
}

func TestCompareIdenticalServers(t *testing.T) {
	bin := phxdtest.Build(t)
	a, b := startPhxd(t, bin), startPhxd(t, bin)
	code, out := runCompare(t, "-a", a, "-b", b)
	if code != ExitSame || !strings.Contains(out, "no differences") {
		t.Fatalf("exit %d, want 0 and \"no differences\":\n%s", code, out)
	}
}

func TestCompareRejectModes(t *testing.T) {
	bin := phxdtest.Build(t)
	a, b := startPhxd(t, bin, "-reject-mode", "http"), startPhxd(t, bin, "-reject-mode", "frame")
	dir := t.TempDir()
	code, out := runCompare(t, "-a", a, "-b", b, "-transcripts", dir)
	if code != ExitDiff {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"--- a " + a, "+++ b " + b,
		"@@ expired#0: connect @@",
		"5 steps differ: expired#0: connect; overloaded#0: connect; badtoken#0: connect; anonymous#0: connect; lp_refused#0: connect\n",
		"-  lp_refused#0 ** connect ?token=expired&vsn=2.0.0 (longpoll): status 403\n",
		"+  lp_refused#0 ** connect ?token=expired&vsn=2.0.0 (longpoll): status 200\n",
		`+  lp_refused#0 <- [null,null,"phoenix","phx_connect_error",{"reason":"token_expired"}]`,
		"-  expired#0 ** connect ?token=expired&vsn=2.0.0: HTTP 403\n",
		"+  expired#0 ** connect ?token=expired&vsn=2.0.0: open (101)\n",
		`+  expired#0 <- [null,null,"phoenix","phx_connect_error",{"reason":"token_expired"}]`,
		`+  expired#0 ** close 4401 "token_expired"`,
		`+  overloaded#0 <- [null,null,"phoenix","phx_connect_error",{"reason":"try_later","retry_after_ms":5000}]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// accepted clients behave the same: the diff is only about refusals
	for _, line := range strings.Split(out, "\n") {
		if (strings.HasPrefix(line, "-  ") || strings.HasPrefix(line, "+  ")) && !strings.Contains(line, "expired#0") &&
			!strings.Contains(line, "overloaded#0") && !strings.Contains(line, "badtoken#0") && !strings.Contains(line, "anonymous#0") &&
			!strings.Contains(line, "lp_refused#0") {
			t.Errorf("unexpected difference: %s", line)
		}
	}
	ta, err := os.ReadFile(filepath.Join(dir, "a.txt"))
	if err != nil || !strings.Contains(string(ta), "== alice#0: join room:lobby") {
		t.Errorf("transcript a.txt: %v\n%s", err, ta)
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestCompareUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-a and -b are required"},
		{[]string{"-a", "ftp://x", "-b", "http://127.0.0.1:1"}, "want http://host:port"},
		{[]string{"-a", "http://127.0.0.1:1", "-b", "http://127.0.0.1:1", "-rules", "/nonexistent.json"}, "nonexistent.json"},
		{[]string{"-a", "http://127.0.0.1:1", "-b", "http://127.0.0.1:1"}, "cannot reach 127.0.0.1:1"},
		{[]string{"-a", "http://127.0.0.1:1", "-b", "http://127.0.0.1:1", "extra"}, "unexpected arguments"},
	} {
		code, out := runCompare(t, tc.args...)
		if code != ExitUsage || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}
