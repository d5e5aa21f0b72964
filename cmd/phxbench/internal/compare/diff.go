package compare

import (
	"fmt"
	"io"
	"strings"
)

// A line diff of two rendered transcripts, printed as a unified diff whose
// hunk headers name the step the hunk starts in.

// op is one line of an edit script.
type op struct {
	kind byte // ' ', '-', '+'
	a, b int  // line index in a (for ' ' and '-') and in b (for ' ' and '+')
}

// maxCells bounds the LCS table; beyond it the differing middle is shown as
// wholly replaced.
const maxCells = 16 << 20

// Diff returns the edit script turning a into b: common prefix and suffix,
// then a longest common subsequence of the middle.
func Diff(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []op
	for i := range pre {
		out = append(out, op{' ', i, i})
	}
	out = append(out, lcs(a[pre:len(a)-suf], b[pre:len(b)-suf], pre, pre)...)
	for k := suf; k > 0; k-- {
		out = append(out, op{' ', len(a) - k, len(b) - k})
	}
	return out
}

// lcs diffs the middle parts; off* are their offsets in the full slices.
func lcs(a, b []string, offA, offB int) []op {
	n, m := len(a), len(b)
	var out []op
	if (n+1)*(m+1) > maxCells {
		for i := range a {
			out = append(out, op{'-', offA + i, 0})
		}
		for j := range b {
			out = append(out, op{'+', 0, offB + j})
		}
		return out
	}
	// t[i][j]: LCS length of a[i:] and b[j:]
	t := make([][]int32, n+1)
	for i := range t {
		t[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				t[i][j] = t[i+1][j+1] + 1
			} else {
				t[i][j] = max(t[i+1][j], t[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, op{' ', offA + i, offB + j})
			i, j = i+1, j+1
		case i < n && (j == m || t[i+1][j] >= t[i][j+1]):
			out = append(out, op{'-', offA + i, 0})
			i++
		default:
			out = append(out, op{'+', 0, offB + j})
			j++
		}
	}
	return out
}

// Unified writes the script as hunks with ctx lines of context and returns
// the number of hunks (0: equal). A hunk header names the step ("== …"
// line) of the hunk's first change.
func Unified(w io.Writer, a, b []string, script []op, ctx int) int {
	hunks := 0
	for start := 0; start < len(script); {
		// find the next change
		c := start
		for c < len(script) && script[c].kind == ' ' {
			c++
		}
		if c == len(script) {
			break
		}
		lo := max(c-ctx, start)
		// extend while changes are within 2*ctx of each other
		hi := c
		for {
			for hi < len(script) && script[hi].kind != ' ' {
				hi++
			}
			k := hi
			for k < len(script) && script[k].kind == ' ' && k-hi < 2*ctx {
				k++
			}
			if k < len(script) && script[k].kind != ' ' {
				hi = k
				continue
			}
			hi = min(hi+ctx, len(script))
			break
		}
		hunks++
		fmt.Fprintf(w, "@@ %s @@\n", stepOf(a, b, script, c))
		for _, o := range script[lo:hi] {
			line := b[o.b]
			if o.kind == '-' {
				line = a[o.a]
			}
			fmt.Fprintf(w, "%c%s\n", o.kind, line)
		}
		start = hi
	}
	return hunks
}

// stepOf finds the step header at or before script position k.
func stepOf(a, b []string, script []op, k int) string {
	for ; k >= 0; k-- {
		o := script[k]
		line := b[o.b]
		if o.kind == '-' {
			line = a[o.a]
		}
		if t, ok := strings.CutPrefix(line, "== "); ok {
			return t
		}
	}
	return "start"
}

// ChangedSteps lists, in order, the titles of the steps that hold a change.
func ChangedSteps(a, b []string, script []op) []string {
	var out []string
	cur := "start"
	for _, o := range script {
		line := b[o.b]
		if o.kind == '-' {
			line = a[o.a]
		}
		if t, ok := strings.CutPrefix(line, "== "); ok {
			cur = t
		}
		if o.kind != ' ' && (len(out) == 0 || out[len(out)-1] != cur) {
			out = append(out, cur)
		}
	}
	return out
}
