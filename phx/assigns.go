package phx

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
)

// Assigns holds app data attached to a socket at connect, and to a channel
// instance by Channel.Assign: a few keys and their values.
//
// It is a small immutable value, not a map: the pairs live in one slice of
// exact size (one allocation for the lot; a Go map's smallest table is
// about 300 bytes, which an idle socket would carry for one user id), and
// a lookup scans them, which for the handful of keys an app assigns is as
// fast as hashing. Every way of changing it (With) returns a copy, so an
// Assigns can be shared and kept without care. The zero value is empty.
type Assigns struct {
	kv []assignPair
}

type assignPair struct {
	key string
	val any
}

// NewAssigns builds Assigns from alternating keys and values:
//
//	phx.NewAssigns("user_id", uid, "role", "admin")
//
// A repeated key keeps its last value. An odd number of arguments or a key
// that is not a string is a programming error: NewAssigns panics on it.
func NewAssigns(keyvals ...any) Assigns {
	if len(keyvals)%2 != 0 {
		panic(fmt.Sprintf("phx.NewAssigns: %d arguments, want key/value pairs", len(keyvals)))
	}
	if len(keyvals) == 0 {
		return Assigns{}
	}
	kv := make([]assignPair, 0, len(keyvals)/2)
	for i := 0; i < len(keyvals); i += 2 {
		key, ok := keyvals[i].(string)
		if !ok {
			panic(fmt.Sprintf("phx.NewAssigns: key %d is a %T, want a string", i/2, keyvals[i]))
		}
		kv = setPair(kv, key, keyvals[i+1])
	}
	return Assigns{kv: slices.Clip(kv)}
}

// AssignsFromMap builds Assigns holding m's entries, in key order.
func AssignsFromMap(m map[string]any) Assigns {
	if len(m) == 0 {
		return Assigns{}
	}
	kv := make([]assignPair, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kv = append(kv, assignPair{k, m[k]})
	}
	return Assigns{kv: kv}
}

// setPair sets key in kv, which has room for it.
func setPair(kv []assignPair, key string, val any) []assignPair {
	for i := range kv {
		if kv[i].key == key {
			kv[i].val = val
			return kv
		}
	}
	return append(kv, assignPair{key, val})
}

// With returns a copy of a with key set to value (added at the end when
// new, replaced in place when present); a itself is unchanged.
func (a Assigns) With(key string, value any) Assigns {
	n := len(a.kv)
	if a.index(key) < 0 {
		n++
	}
	kv := make([]assignPair, len(a.kv), n)
	copy(kv, a.kv)
	return Assigns{kv: setPair(kv, key, value)}
}

func (a Assigns) index(key string) int {
	for i := range a.kv {
		if a.kv[i].key == key {
			return i
		}
	}
	return -1
}

// Get returns the value at key and whether the key is set.
func (a Assigns) Get(key string) (any, bool) {
	if i := a.index(key); i >= 0 {
		return a.kv[i].val, true
	}
	return nil, false
}

// String returns the value at key if it is a string, else "".
func (a Assigns) String(key string) string {
	v, _ := a.Get(key)
	s, _ := v.(string)
	return s
}

// Len returns the number of keys.
func (a Assigns) Len() int { return len(a.kv) }

// All yields every key and its value, in the order the keys were first set.
func (a Assigns) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for _, p := range a.kv {
			if !yield(p.key, p.val) {
				return
			}
		}
	}
}

// Map returns a new map holding a's entries (for code that wants one, such
// as a JSON encoder).
func (a Assigns) Map() map[string]any {
	m := make(map[string]any, len(a.kv))
	for _, p := range a.kv {
		m[p.key] = p.val
	}
	return m
}

// Format prints the assigns as a map would print (fmt's %v and friends):
// map[user_id:42 role:admin], keys in the order they were set.
func (a Assigns) Format(f fmt.State, verb rune) {
	var b strings.Builder
	b.WriteString("map[")
	for i, p := range a.kv {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%"+string(verb), p.key, p.val)
	}
	b.WriteByte(']')
	_, _ = f.Write([]byte(b.String()))
}
