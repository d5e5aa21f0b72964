package serializer

import (
	"bytes"
	"unicode/utf8"

	jsoniter "github.com/json-iterator/go"
)

// jsonAPI is the package's only JSON configuration. jsoniter unescapes
// string literals (unquote); the scanner in scan.go validates, and strings
// are escaped here, in Jason's exact style.
var jsonAPI = jsoniter.Config{EscapeHTML: false}.Froze()

// appendString appends s as a JSON string escaped the way Jason, Phoenix's
// encoder, does by default, so output matches Phoenix byte for byte: \b \t
// \n \f \r \" \\ as two bytes, other control characters as \u00XX with
// upper-case hex, everything else as is (no HTML or U+2028 escaping).
// Unlike Jason, which would emit it unchanged, an invalid UTF-8 byte (a
// topic taken from a binary frame can hold one) becomes U+FFFD, since a text
// frame must be valid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plainStringByte[c] && c < utf8.RuneSelf {
			i++
			continue
		}
		size := 1
		if c >= utf8.RuneSelf {
			if _, size = utf8.DecodeRuneInString(s[i:]); size > 1 {
				i += size
				continue
			}
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, c)
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscape appends the escape for an ASCII byte that cannot stand for
// itself, or U+FFFD for a byte that is not valid UTF-8.
func appendEscape(dst []byte, c byte) []byte {
	const hex = "0123456789ABCDEF"
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\t':
		return append(dst, '\\', 't')
	case '\n':
		return append(dst, '\\', 'n')
	case '\f':
		return append(dst, '\\', 'f')
	case '\r':
		return append(dst, '\\', 'r')
	}
	if c >= utf8.RuneSelf {
		return append(dst, "\uFFFD"...)
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
}

// needsEscape reports whether appendString would escape anything in s.
func needsEscape(s string) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case !plainStringByte[c]:
			return true
		}
	}
	return !ascii && !utf8.ValidString(s)
}

// unquote returns the text of lit, a JSON string literal already validated
// by the scanner. Only literals with escapes reach jsoniter.
func unquote(lit []byte) string {
	body := lit[1 : len(lit)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return string(body)
	}
	it := jsonAPI.BorrowIterator(lit)
	s := it.ReadString()
	jsonAPI.ReturnIterator(it)
	return s
}

// refText converts a raw JSON ref to the text a binary header carries, as
// Phoenix's to_string/1 does: a string's contents, a number's or boolean's
// own text, and nothing for null or an absent ref. Objects, arrays and
// truncated strings have no text form.
func refText(raw []byte) ([]byte, error) {
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil, nil
	case raw[0] == '"':
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return nil, ErrBadRef
		}
		if bytes.IndexByte(raw, '\\') < 0 {
			return raw[1 : len(raw)-1], nil
		}
		return []byte(unquote(raw)), nil
	case raw[0] == '{' || raw[0] == '[':
		return nil, ErrBadRef
	}
	return raw, nil
}
