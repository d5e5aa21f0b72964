package scenario

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
)

// Templates let one group describe many distinct clients: {{id}} (client
// number over the whole scenario), {{n}} (number within its group) and
// {{group}} may appear in params, auth_token, topics and payloads; payloads
// may also use {{seq}} (the client's push counter) and {{stamp}} (send time,
// for delivery latency and loss accounting; see package wire).

type placeholder uint8

const (
	phNone placeholder = iota
	phID
	phN
	phGroup
	phSeq
	phStamp
)

var placeholders = map[string]placeholder{
	"id": phID, "n": phN, "group": phGroup, "seq": phSeq, "stamp": phStamp,
}

type tmplPart struct {
	lit string
	ph  placeholder
}

// tmpl is a compiled template.
type tmpl struct {
	parts []tmplPart
	raw   string
}

// TmplVars are the values placeholders expand to.
type TmplVars struct {
	ID, N int
	Group string
	Seq   uint64
	Stamp int64
}

// compileTmpl parses s. payload reports whether {{seq}} and {{stamp}} are
// allowed (they only make sense in a push payload).
func compileTmpl(s string, payload bool) (tmpl, error) {
	t := tmpl{raw: s}
	rest := s
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return t, fmt.Errorf("unclosed {{ in %q", s)
		}
		name := strings.TrimSpace(rest[i+2 : i+j])
		ph, ok := placeholders[name]
		if !ok {
			return t, fmt.Errorf("unknown placeholder {{%s}} in %q (known: id, n, group, seq, stamp)", name, s)
		}
		if !payload && (ph == phSeq || ph == phStamp) {
			return t, fmt.Errorf("{{%s}} is only allowed in a push payload (in %q)", name, s)
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		t.parts = append(t.parts, tmplPart{ph: ph})
		rest = rest[i+j+2:]
	}
	if rest != "" {
		t.parts = append(t.parts, tmplPart{lit: rest})
	}
	return t, nil
}

// static reports whether t has no placeholders.
func (t *tmpl) static() bool {
	for _, p := range t.parts {
		if p.ph != phNone {
			return false
		}
	}
	return true
}

// has reports whether t uses ph.
func (t *tmpl) has(ph placeholder) bool {
	for _, p := range t.parts {
		if p.ph == ph {
			return true
		}
	}
	return false
}

// Expand appends t with v's values.
func (t *tmpl) Expand(dst []byte, v *TmplVars) []byte {
	for _, p := range t.parts {
		switch p.ph {
		case phNone:
			dst = append(dst, p.lit...)
		case phID:
			dst = strconv.AppendInt(dst, int64(v.ID), 10)
		case phN:
			dst = strconv.AppendInt(dst, int64(v.N), 10)
		case phGroup:
			dst = append(dst, v.Group...)
		case phSeq:
			dst = strconv.AppendUint(dst, v.Seq, 10)
		case phStamp:
			dst = wire.AppendStamp(dst, v.Stamp)
		}
	}
	return dst
}

// Str expands t to a string, without allocating when t is static.
func (t *tmpl) Str(v *TmplVars) string {
	if t.static() {
		return t.raw
	}
	return string(t.Expand(nil, v))
}
