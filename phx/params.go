package phx

import (
	"iter"
	"net/url"
	"slices"
	"strings"
)

// Params are the connect parameters: the connect request's query string
// (connect params plus vsn), read with Phoenix's rule that the last value
// of a repeated key wins; a pair whose key or value does not unescape is
// skipped. Reading is done on demand, scanning the query: no map is built
// per connect (a Go map's smallest table is about 300 bytes, thrown away
// once Connect has returned). A value without escapes is a substring of
// the query: clone it (strings.Clone) to keep it past Connect without
// pinning the request's query. The zero value is empty.
type Params struct {
	query string
}

// ParamsFromQuery returns the params of a raw query string (without '?').
func ParamsFromQuery(rawQuery string) Params { return Params{query: rawQuery} }

// NewParams builds Params from alternating keys and values:
// NewParams("token", tok, "vsn", "2.0.0"). It panics on an odd number of
// arguments.
func NewParams(keyvals ...string) Params {
	if len(keyvals)%2 != 0 {
		panic("phx.NewParams: odd number of arguments, want key/value pairs")
	}
	var b strings.Builder
	for i := 0; i < len(keyvals); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(keyvals[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(keyvals[i+1]))
	}
	return Params{query: b.String()}
}

// nextPair reads the first well-formed pair of q and returns it with what
// follows it; ok is false when q holds no more pairs.
func nextPair(q string) (key, val, rest string, ok bool) {
	for q != "" {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		return key, val, q, true
	}
	return "", "", "", false
}

// Lookup returns the value of key (its last one) and whether it is set.
// Only what may match is unescaped: looking up a key allocates nothing
// unless the query escapes it or its value.
func (p Params) Lookup(key string) (val string, ok bool) {
	for q := p.query; q != ""; {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(pair, "=")
		if pair == "" || !keyIs(k, key) {
			continue
		}
		if u, err := url.QueryUnescape(v); err == nil {
			val, ok = u, true
		}
	}
	return val, ok
}

// keyIs reports whether the escaped key k is key.
func keyIs(k, key string) bool {
	if !strings.ContainsAny(k, "%+") {
		return k == key
	}
	u, err := url.QueryUnescape(k)
	return err == nil && u == key
}

// Get returns the value of key (its last one), "" when absent.
func (p Params) Get(key string) string {
	v, _ := p.Lookup(key)
	return v
}

// All yields every key once with its value (the last one), in the order
// the keys first appear. The query is read once per call: the keys and
// their last values are gathered first (a map indexes them once there are
// more than a few), then yielded.
func (p Params) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		keys, vals := p.pairs()
		for i, k := range keys {
			if !yield(k, vals[i]) {
				return
			}
		}
	}
}

// smallParams is how many distinct keys are searched linearly before
// pairs builds an index.
const smallParams = 8

// pairs reads the query once and returns its distinct keys in the order
// they first appear and, at the same index, each key's last value: what
// Get returns for it, as nextPair and Lookup skip the same malformed pairs.
func (p Params) pairs() (keys, vals []string) {
	var index map[string]int
	for q := p.query; ; {
		k, v, rest, more := nextPair(q)
		if !more {
			return keys, vals
		}
		q = rest
		i := -1
		if index != nil {
			if j, ok := index[k]; ok {
				i = j
			}
		} else {
			i = slices.Index(keys, k)
		}
		if i >= 0 {
			vals[i] = v
			continue
		}
		keys = append(keys, k)
		vals = append(vals, v)
		if index != nil {
			index[k] = len(keys) - 1
		} else if len(keys) > smallParams {
			index = make(map[string]int, 2*len(keys))
			for j, key := range keys {
				index[key] = j
			}
		}
	}
}

// Len returns the number of distinct keys.
func (p Params) Len() int {
	keys, _ := p.pairs()
	return len(keys)
}

// Query returns the raw query string the params are read from.
func (p Params) Query() string { return p.query }
