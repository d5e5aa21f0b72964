package phx

import (
	"fmt"
	"maps"
	"testing"
)

func TestAssignsReadAndBuild(t *testing.T) {
	var zero Assigns
	if zero.Len() != 0 || zero.String("x") != "" {
		t.Fatal("zero Assigns not empty")
	}
	if _, ok := zero.Get("x"); ok {
		t.Fatal("zero Assigns has a key")
	}
	a := NewAssigns("user_id", "42", "n", 7, "user_id", "43")
	if a.Len() != 2 || a.String("user_id") != "43" || a.String("n") != "" {
		t.Fatalf("NewAssigns: %v", a)
	}
	if v, ok := a.Get("n"); !ok || v != 7 {
		t.Fatalf("Get(n) = %v, %v", v, ok)
	}
	b := a.With("role", "admin").With("n", 8)
	if a.Len() != 2 || a.String("role") != "" {
		t.Fatalf("With changed its receiver: %v", a)
	}
	if v, _ := a.Get("n"); v != 7 {
		t.Fatalf("With changed its receiver's value: %v", a)
	}
	var keys []string
	for k := range b.All() {
		keys = append(keys, k)
	}
	if fmt.Sprint(keys) != "[user_id n role]" || fmt.Sprint(b) != "map[user_id:43 n:8 role:admin]" {
		t.Fatalf("keys %v, printed %v", keys, b)
	}
	for range b.All() {
		break // stopping early must not panic
	}
	m := map[string]any{"b": 2, "a": 1}
	c := AssignsFromMap(m)
	if fmt.Sprint(c) != "map[a:1 b:2]" || !maps.Equal(c.Map(), m) {
		t.Fatalf("AssignsFromMap: %v", c)
	}
	if AssignsFromMap(nil).Len() != 0 || NewAssigns().Len() != 0 {
		t.Fatal("empty constructors not empty")
	}
}

// Assigns of one key cost one allocation of one pair (a map's smallest
// table is ten times that), With one of exactly the new size.
func TestAssignsAllocations(t *testing.T) {
	var sink Assigns
	id := "u1"
	if n := testing.AllocsPerRun(100, func() { sink = NewAssigns("user_id", id) }); n > 1 {
		t.Fatalf("NewAssigns of one key: %v allocations, want 1", n)
	}
	if cap(sink.kv) != 1 {
		t.Fatalf("NewAssigns of one key holds room for %d", cap(sink.kv))
	}
	if n := testing.AllocsPerRun(100, func() { _ = sink.String("user_id") }); n != 0 {
		t.Fatalf("String: %v allocations", n)
	}
	two := sink.With("role", "admin")
	if cap(two.kv) != 2 || cap(sink.With("user_id", "u2").kv) != 1 {
		t.Fatalf("With: room for %d", cap(two.kv))
	}
}

func TestNewAssignsPanicsOnMisuse(t *testing.T) {
	for _, args := range [][]any{{"a"}, {1, "x"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("NewAssigns(%v) did not panic", args)
				}
			}()
			NewAssigns(args...)
		}()
	}
}

// remoteAddrPort reads an http.Request's RemoteAddr without a name
// lookup; IPv4 comes out unmapped.
func TestRemoteAddrPort(t *testing.T) {
	cases := []struct{ in, want string }{
		{"10.0.0.1:80", "10.0.0.1:80"},
		{"[::ffff:10.0.0.1]:80", "10.0.0.1:80"}, // unmapped
		{"[::1]:443", "[::1]:443"},
		{"[fe80::1%eth0]:1", "[fe80::1%eth0]:1"},
		{"10.0.0.2", "10.0.0.2:0"}, // no port
		{"[::2]", "[::2]:0"},
		{"localhost:80", ""}, // no lookup
		{"@", ""},
		{"", ""},
	}
	for _, tc := range cases {
		if got := peerString(remoteAddrPort(tc.in)); got != tc.want {
			t.Errorf("remoteAddrPort(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if ap := remoteAddrPort("[::ffff:10.0.0.1]:80"); !ap.Addr().Is4() {
		t.Fatalf("IPv4 kept as %v", ap)
	}
}
