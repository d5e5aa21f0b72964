package phx

import (
	"fmt"
	"sort"
	"testing"
)

// The table keeps one channel per topic whichever slot it is in: the
// inline one, or the map made for a second topic; a topic's replacement
// takes its slot, a stale remove is ignored, and the map goes away when
// it empties.
func TestChanTable(t *testing.T) {
	var tb chanTable
	ch := func(topic string) *Channel { return &Channel{topic: topic} }
	list := func() string {
		var out []string
		for _, c := range tb.all() {
			out = append(out, c.topic)
		}
		sort.Strings(out)
		return fmt.Sprint(out)
	}
	a1, b1, c1 := ch("a"), ch("b"), ch("c")
	tb.put(a1)
	if tb.more != nil || tb.get("a") != a1 || tb.get("b") != nil || tb.len() != 1 {
		t.Fatal("the first channel is not held inline")
	}
	tb.put(b1)
	tb.put(c1)
	if tb.len() != 3 || list() != "[a b c]" || tb.get("b") != b1 || tb.get("c") != c1 {
		t.Fatalf("three topics: %s", list())
	}
	tb.remove(a1) // the inline slot empties while the map holds b and c
	b2 := ch("b")
	tb.put(b2) // a replacement stays in its slot, not the free inline one
	if tb.one != nil || tb.get("b") != b2 || tb.len() != 2 {
		t.Fatalf("replacing b: one %v, get %v, len %d", tb.one, tb.get("b"), tb.len())
	}
	tb.remove(b1) // stale: b2 is b's channel now
	if tb.get("b") != b2 {
		t.Fatal("a stale remove unregistered the current channel")
	}
	a2 := ch("a")
	tb.put(a2)
	if tb.one != a2 || tb.get("a") != a2 || list() != "[a b c]" {
		t.Fatalf("a new topic does not take the free inline slot: %s", list())
	}
	tb.remove(b2)
	tb.remove(c1)
	if tb.more != nil || tb.len() != 1 || list() != "[a]" {
		t.Fatalf("after removing b and c: more %v, %s", tb.more, list())
	}
}
