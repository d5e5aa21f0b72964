package serializer

// A strict JSON scanner: RFC 8259 syntax, plus Jason's rejection of \u
// escapes of unpaired UTF-16 surrogates (UTF-8 validity is checked for the
// whole frame by the caller). It validates JSON in place and reports where
// each value starts and ends, so decoded refs and payloads can alias the
// frame instead of being copied, with no allocation at all.
//
// jsoniter's Iterator.Skip cannot do this job: it hides its position (its
// SkipAndReturnBytes copies), it allocates strings for object keys, and it
// accepts text that Jason, the JSON library Phoenix uses, and JSON.parse in
// the browser reject (a null object key after a comma, "-01", a raw control
// character after an escape). A payload is relayed verbatim to other
// clients, so it must be exactly valid. jsoniter still unescapes the strings
// that need it (json.go).

// maxDepth is the deepest nesting accepted, counting the frame's own array or
// object, the same limit encoding/json applies.
const maxDepth = 10000

// span is the half-open byte range [start, end) of a value in the frame.
type span struct{ start, end int }

// scanner validates JSON text in data. After the first error, err says what
// was wrong and errAt where; every method then returns without work.
type scanner struct {
	data  []byte
	errAt int
	err   string
}

// nesting records, for each open container, whether it is an object. The
// first 64 levels live in a word; deeper levels, which only a frame of more
// than 64 bytes can reach, spill to a slice of 1 bit per level.
type nesting struct {
	depth int
	low   uint64
	high  []uint64
}

func (n *nesting) push(obj bool) {
	var bit uint64
	if obj {
		bit = 1
	}
	d := n.depth
	n.depth++
	if d < 64 {
		n.low = n.low&^(1<<d) | bit<<d
		return
	}
	w := (d - 64) / 64
	if w == len(n.high) {
		n.high = append(n.high, 0)
	}
	n.high[w] = n.high[w]&^(1<<(d%64)) | bit<<(d%64)
}

func (n *nesting) topIsObject() bool {
	d := n.depth - 1
	if d < 64 {
		return n.low&(1<<d) != 0
	}
	return n.high[(d-64)/64]&(1<<(d%64)) != 0
}

// fail records the first error and returns len(data), so that loops stop.
func (s *scanner) fail(at int, what string) int {
	if s.err == "" {
		s.err, s.errAt = what, at
	}
	return len(s.data)
}

func (s *scanner) failed() bool { return s.err != "" }

func (s *scanner) skipSpace(i int) int {
	for i < len(s.data) {
		switch s.data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// value validates the value at or after i (leading whitespace allowed)
// inside depth enclosing containers, and returns the index just past it.
func (s *scanner) value(i, depth int) int {
	n := nesting{depth: depth}
	for !s.failed() {
		var opened bool
		i, opened = s.item(i, &n)
		if opened {
			continue
		}
		i = s.afterItem(i, &n, depth)
		if n.depth == depth {
			return i
		}
	}
	return i
}

// item scans a scalar or an empty container and returns the index past it,
// or opens a non-empty container (consuming an object's first key and its
// colon) and returns opened.
func (s *scanner) item(i int, n *nesting) (next int, opened bool) {
	i = s.skipSpace(i)
	if i >= len(s.data) {
		return s.fail(i, "unexpected end of input"), false
	}
	switch c := s.data[i]; c {
	case '{', '[':
		if n.depth >= maxDepth {
			return s.fail(i, "exceeded max depth"), false
		}
		j := s.skipSpace(i + 1)
		if j < len(s.data) && s.data[j] == c+2 { // '}' and ']' follow '{' and '[' by 2
			return j + 1, false
		}
		n.push(c == '{')
		if c == '{' {
			_, j = s.key(j)
		}
		return j, true
	case '"':
		j, _ := s.str(i)
		return j, false
	case 't':
		return s.literal(i, "true"), false
	case 'f':
		return s.literal(i, "false"), false
	case 'n':
		return s.literal(i, "null"), false
	}
	return s.number(i), false
}

// afterItem consumes the commas, colons and closing brackets that follow a
// complete item, stopping at the start of the next item or once the nesting
// is back to base.
func (s *scanner) afterItem(i int, n *nesting, base int) int {
	for n.depth > base && !s.failed() {
		i = s.skipSpace(i)
		if i >= len(s.data) {
			return s.fail(i, "unexpected end of input")
		}
		obj := n.topIsObject()
		switch c := s.data[i]; {
		case c == ',' && obj:
			_, i = s.key(i + 1)
			return i
		case c == ',':
			return i + 1
		case c == '}' && obj, c == ']' && !obj:
			n.depth--
			i++
		case obj:
			return s.fail(i, "expected , or } after object value")
		default:
			return s.fail(i, "expected , or ] after array element")
		}
	}
	return i
}

// key scans an object key at or after i and its colon. It returns the index
// past the key's closing quote and the index past the colon.
func (s *scanner) key(i int) (keyEnd, next int) {
	i = s.skipSpace(i)
	if i >= len(s.data) || s.data[i] != '"' {
		i = s.fail(i, "expected string object key")
		return i, i
	}
	keyEnd, _ = s.str(i)
	i = s.skipSpace(keyEnd)
	if i >= len(s.data) || s.data[i] != ':' {
		i = s.fail(i, "expected : after object key")
		return i, i
	}
	return keyEnd, i + 1
}

// str scans the string whose opening quote is at i and returns the index
// past the closing quote; escaped reports whether it contains a backslash.
func (s *scanner) str(i int) (next int, escaped bool) {
	d := s.data
	for j := i + 1; j < len(d); {
		if plainStringByte[d[j]] {
			j++
			continue
		}
		switch c := d[j]; {
		case c == '"':
			return j + 1, escaped
		case c == '\\':
			escaped = true
			j = s.escape(j)
		default:
			return s.fail(j, "control character in string"), escaped
		}
	}
	return s.fail(len(d), "unterminated string"), escaped
}

// plainStringByte marks the bytes that stand for themselves in a string.
var plainStringByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// escape scans the escape sequence whose backslash is at i. Like Jason, it
// rejects a \u escape of a UTF-16 surrogate that is not half of a pair.
func (s *scanner) escape(i int) int {
	d := s.data
	if i+1 >= len(d) {
		return s.fail(i, "unterminated string")
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2
	case 'u':
	default:
		return s.fail(i, "invalid escape")
	}
	r, ok := hex4(d, i+2)
	switch {
	case !ok:
		return s.fail(i, `invalid \u escape`)
	case r >= 0xDC00 && r <= 0xDFFF:
		return s.fail(i, `unpaired surrogate in \u escape`)
	case r < 0xD800 || r > 0xDBFF:
		return i + 6
	}
	if i+12 > len(d) || d[i+6] != '\\' || d[i+7] != 'u' {
		return s.fail(i, `unpaired surrogate in \u escape`)
	}
	if lo, ok := hex4(d, i+8); !ok || lo < 0xDC00 || lo > 0xDFFF {
		return s.fail(i, `unpaired surrogate in \u escape`)
	}
	return i + 12
}

// hex4 decodes the four hex digits at d[i:i+4].
func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (s *scanner) literal(i int, word string) int {
	if len(s.data)-i < len(word) || string(s.data[i:i+len(word)]) != word {
		return s.fail(i, "invalid literal")
	}
	return i + len(word)
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func (s *scanner) number(i int) int {
	d, j := s.data, i
	if j < len(d) && d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && d[j] >= '1' && d[j] <= '9':
		j = s.digits(j + 1)
	default:
		return s.fail(j, "invalid character looking for a value")
	}
	if j < len(d) && d[j] == '.' {
		k := s.digits(j + 1)
		if k == j+1 {
			return s.fail(k, "missing digits after decimal point")
		}
		j = k
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		k := s.digits(j)
		if k == j {
			return s.fail(k, "missing digits in exponent")
		}
		j = k
	}
	return j
}

func (s *scanner) digits(i int) int {
	for i < len(s.data) && s.data[i] >= '0' && s.data[i] <= '9' {
		i++
	}
	return i
}

// valid reports whether data is exactly one JSON value, with optional
// surrounding whitespace. It backs tests that compare the scanner with
// encoding/json.
func valid(data []byte) bool {
	s := scanner{data: data}
	i := s.skipSpace(s.value(0, 0))
	return !s.failed() && i == len(data)
}
