package phx

import (
	"strconv"
	"strings"
	"testing"
)

// manyKeys returns a query of n distinct keys, each "+" and two characters
// from a 66-character alphabet, so n <= 66*66; with plus the key has an
// escape, and unescaping it allocates.
func manyKeys(n int) (string, []string) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
	var b strings.Builder
	keys := make([]string, 0, n)
	for i := range n {
		k := string(alphabet[i/len(alphabet)]) + string(alphabet[i%len(alphabet)])
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString("+" + k)
		keys = append(keys, " "+k)
	}
	return b.String(), keys
}

// TestParamsManyKeys attacks All and Len with a 16 KB query of 4,096
// distinct keys: one pass over the query, so the allocations are the keys'
// unescaping plus the index's and lists' growth. Re-reading the query per
// key (Get for each) unescapes every key again for each: millions of
// allocations.
func TestParamsManyKeys(t *testing.T) {
	const n = 4096
	query, keys := manyKeys(n)
	if len(query) < 16000 {
		t.Fatalf("query of %d bytes", len(query))
	}
	p := ParamsFromQuery(query + "&+ab=last")
	if got := p.Len(); got != n {
		t.Fatalf("Len = %d, want %d", got, n)
	}
	i := 0
	for k, v := range p.All() {
		want := ""
		if k == " ab" {
			want = "last"
		}
		if k != keys[i] || v != want {
			t.Fatalf("All's pair %d: %q=%q, want %q=%q", i, k, v, keys[i], want)
		}
		i++
	}
	if i != n || p.Get(" ab") != "last" || p.Get(keys[n-1]) != "" {
		t.Fatalf("All yielded %d pairs, want %d", i, n)
	}
	// n unescaped keys, plus about log2(n) growths of each list and of the
	// map: 2n is a generous bound that quadratic reading exceeds a
	// thousandfold.
	a := testing.AllocsPerRun(2, func() { _ = p.Len() })
	t.Logf("Len of %d escaped keys: %v allocations", n, a)
	if a > 2*n {
		t.Fatalf("Len of %d keys: %v allocations, want <= %d", n, a, 2*n)
	}
	plain := ParamsFromQuery(strings.ReplaceAll(query, "+", "k"))
	a = testing.AllocsPerRun(2, func() { _ = plain.Len() })
	t.Logf("Len of %d plain keys: %v allocations", n, a)
	if a > 100 {
		t.Fatalf("Len of %d keys without escapes: %v allocations, want <= 100", n, a)
	}
}

// TestParamsAllRepeats checks All against Get for repeated keys around
// the switch from a linear search to the index.
func TestParamsAllRepeats(t *testing.T) {
	for n := range 2 * smallParams {
		var b strings.Builder
		for round := range 3 {
			for i := range n + 1 {
				b.WriteString("k" + strconv.Itoa(i) + "=" + strconv.Itoa(round) + "&")
			}
			b.WriteString("k0=%zz&")
		}
		p := ParamsFromQuery(b.String())
		if p.Len() != n+1 {
			t.Fatalf("n=%d: Len %d", n, p.Len())
		}
		i := 0
		for k, v := range p.All() {
			if k != "k"+strconv.Itoa(i) || v != "2" || p.Get(k) != v {
				t.Fatalf("n=%d: pair %d %q=%q, Get %q", n, i, k, v, p.Get(k))
			}
			i++
		}
	}
}
