package compare

import (
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"
)

func TestUnifiedOutput(t *testing.T) {
	a := []string{"== s1", "  x", "  y", "== s2", "  p", "  q", "  r", "  s", "  t", "  u", "  v", "  w", "== s3", "  old", "  end"}
	b := []string{"== s1", "  x", "  y", "== s2", "  p", "  q", "  r", "  s", "  t", "  u", "  v", "  w", "== s3", "  new", "  more", "  end"}
	var sb strings.Builder
	n := Unified(&sb, a, b, Diff(a, b), 2)
	want := `@@ s3 @@
   w
 == s3
-  old
+  new
+  more
   end
`
	check.Eq(t, "hunks", n, 1)
	check.Eq(t, "output", sb.String(), want)
	check.Eq(t, "steps", strings.Join(ChangedSteps(a, b, Diff(a, b)), ";"), "s3")
}

func TestUnifiedHunks(t *testing.T) {
	a := []string{"== s1", "  1", "  2", "  3", "  4", "  5", "  6", "  7", "  8", "  9"}
	b := []string{"== s1", "  1x", "  2", "  3", "  4", "  5", "  6", "  7", "  8", "  9x"}
	var sb strings.Builder
	// changes 8 lines apart: two hunks with 1 line of context, one with 4
	check.Eq(t, "hunks ctx 1", Unified(&sb, a, b, Diff(a, b), 1), 2)
	if !strings.HasPrefix(sb.String(), "@@ s1 @@\n == s1\n-  1\n+  1x\n   2\n@@ s1 @@\n   8\n-  9\n+  9x\n") {
		t.Errorf("got\n%s", sb.String())
	}
	sb.Reset()
	check.Eq(t, "hunks ctx 4", Unified(&sb, a, b, Diff(a, b), 4), 1)
	sb.Reset()
	check.Eq(t, "equal", Unified(&sb, a, a, Diff(a, a), 3), 0)
	check.Eq(t, "equal output", sb.String(), "")
}

// TestDiffMinimal checks the script is a shortest one: the common lines are
// a longest common subsequence.
func TestDiffMinimal(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"abcabba", "cbabac"},
		{"", "abc"},
		{"abc", ""},
		{"xaxbxc", "abc"},
		{"same", "same"},
	} {
		a, b := strings.Split(tc.a, ""), strings.Split(tc.b, "")
		if tc.a == "" {
			a = nil
		}
		if tc.b == "" {
			b = nil
		}
		script := Diff(a, b)
		var ga, gb []string
		common := 0
		for _, o := range script {
			switch o.kind {
			case ' ':
				ga, gb = append(ga, a[o.a]), append(gb, b[o.b])
				common++
			case '-':
				ga = append(ga, a[o.a])
			case '+':
				gb = append(gb, b[o.b])
			}
		}
		if strings.Join(ga, "") != tc.a || strings.Join(gb, "") != tc.b {
			t.Errorf("%s/%s: script rebuilds %q/%q", tc.a, tc.b, strings.Join(ga, ""), strings.Join(gb, ""))
		}
		if want := lcsLen(a, b); common != want {
			t.Errorf("%s/%s: %d common lines, want %d", tc.a, tc.b, common, want)
		}
	}
}

func lcsLen(a, b []string) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	if a[0] == b[0] {
		return 1 + lcsLen(a[1:], b[1:])
	}
	return max(lcsLen(a[1:], b), lcsLen(a, b[1:]))
}

// TestReport checks the command's summary lines.
func TestReport(t *testing.T) {
	o := &options{a: "http://A", b: "http://B", context: 1}
	var sb strings.Builder
	a := []string{"== c#0: connect", "  c#0 ** HTTP 403", "== c#0: join x", "  c#0 ** skipped"}
	b := []string{"== c#0: connect", "  c#0 ** open (101)", "  c#0 ** close 4401", "== c#0: join x", "  c#0 ** skipped"}
	check.Eq(t, "exit", report(&sb, o, a, b), ExitDiff)
	want := "--- a http://A\n+++ b http://B\n@@ c#0: connect @@\n == c#0: connect\n-  c#0 ** HTTP 403\n+  c#0 ** open (101)\n+  c#0 ** close 4401\n == c#0: join x\n1 step differs: c#0: connect\n"
	if sb.String() != want {
		t.Errorf("got\n%s\nwant\n%s", sb.String(), want)
	}
	sb.Reset()
	check.Eq(t, "exit same", report(&sb, o, a, a), ExitSame)
	check.Eq(t, "same output", sb.String(), "no differences\n")
}
