package serializer

// frameWalker steps through the members of a text frame's outer array or
// object, validating each and reporting where its key and value lie.
type frameWalker struct {
	scanner
	pos   int  // where the next member (or the closing bracket) starts
	close byte // ']' or '}'
	done  bool // the closing bracket has been consumed
}

// open positions w after the frame's opening bracket, '[' or '{', and
// reports whether the frame starts with it.
func (w *frameWalker) open(frame []byte, bracket byte) bool {
	w.data = frame
	i := w.skipSpace(0)
	if i >= len(frame) || frame[i] != bracket {
		return false
	}
	w.close = bracket + 2 // '}' and ']' follow '{' and '[' by 2
	w.pos = w.skipSpace(i + 1)
	if w.pos < len(frame) && frame[w.pos] == w.close {
		w.pos++
		w.done = true
	}
	return true
}

// next scans the next member. ok is false after the last member or on a
// syntax error (then w.failed() is true). key is empty for arrays.
func (w *frameWalker) next() (key, val span, ok bool) {
	if w.done || w.failed() {
		return span{}, span{}, false
	}
	i := w.skipSpace(w.pos)
	if w.close == '}' {
		key.start = i
		if key.end, i = w.key(i); w.failed() {
			return span{}, span{}, false
		}
		i = w.skipSpace(i)
	}
	val.start = i
	val.end = w.value(i, 1)
	i = w.skipSpace(val.end)
	switch {
	case w.failed():
		return span{}, span{}, false
	case i < len(w.data) && w.data[i] == ',':
		w.pos = i + 1
	case i < len(w.data) && w.data[i] == w.close:
		w.pos = i + 1
		w.done = true
	default:
		w.fail(i, "expected , or "+string(w.close)+" after frame member")
		return span{}, span{}, false
	}
	return key, val, true
}

// finish checks that nothing but whitespace follows the closing bracket and
// reports whether the whole frame was well formed.
func (w *frameWalker) finish() bool {
	if !w.failed() && w.skipSpace(w.pos) != len(w.data) {
		w.fail(w.pos, "data after the end of the frame")
	}
	return !w.failed()
}

// syntaxError converts the walker's first error into a *DecodeError.
func (w *frameWalker) syntaxError(v Version) error {
	return malformed(v, "invalid JSON at byte %d: %s", w.errAt, w.err)
}

// raw returns the bytes of sp, capped so that appending to them cannot
// overwrite the rest of the frame.
func (w *frameWalker) raw(sp span) []byte {
	return w.data[sp.start:sp.end:sp.end]
}

// ref returns the raw JSON of a ref, or nil for null.
func (w *frameWalker) ref(sp span) []byte {
	if string(w.data[sp.start:sp.end]) == "null" {
		return nil
	}
	return w.raw(sp)
}

// isString reports whether the value at sp is a JSON string.
func (w *frameWalker) isString(sp span) bool {
	return w.data[sp.start] == '"'
}

// name reads a topic or event: unquoted when it is a JSON string, else its
// raw JSON (aliasing the frame).
func (w *frameWalker) name(sp span) (s string, raw []byte) {
	if w.isString(sp) {
		return unquote(w.raw(sp)), nil
	}
	return "", w.raw(sp)
}
