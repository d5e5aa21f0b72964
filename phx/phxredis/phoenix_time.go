package phxredis

import (
	"fmt"
	"strconv"

	"github.com/phxgo/phxgo/phx/etf"
)

// Jason writes Elixir's calendar structs (with the ISO calendar) as their
// to_iso8601 strings, and has no JSON for other structs unless the app
// derived it, which the term does not tell: appendStruct writes the four
// calendar types and refuses the rest.
func appendStruct(buf []byte, m map[any]any, name any) ([]byte, error) {
	f := calendarFields{m: m}
	if n, _ := name.(etf.Atom); n == "Elixir.Date" || n == "Elixir.Time" || n == "Elixir.NaiveDateTime" || n == "Elixir.DateTime" {
		if m[etf.Atom("calendar")] != etf.Atom("Elixir.Calendar.ISO") {
			return nil, fmt.Errorf("%w: %s with a calendar other than Calendar.ISO", errPhxUnencodable, n)
		}
		buf = append(buf, '"')
		if n != "Elixir.Time" {
			buf = f.date(buf)
		}
		if n == "Elixir.NaiveDateTime" || n == "Elixir.DateTime" {
			buf = append(buf, 'T')
		}
		if n != "Elixir.Date" {
			buf = f.time(buf)
		}
		if n == "Elixir.DateTime" {
			buf = f.offset(buf)
		}
		if f.err != nil {
			return nil, f.err
		}
		return append(buf, '"'), nil
	}
	return nil, fmt.Errorf("%w: struct %v", errPhxUnencodable, name)
}

// calendarFields reads the integer fields of a calendar struct; the first
// missing or out-of-range one sets err.
type calendarFields struct {
	m   map[any]any
	err error
}

func (f *calendarFields) int(key string, lo, hi int64) int64 {
	v, ok := f.m[etf.Atom(key)].(int64)
	if (!ok || v < lo || v > hi) && f.err == nil {
		f.err = fmt.Errorf("%w: calendar field %s is %v", errPhxUnencodable, key, f.m[etf.Atom(key)])
	}
	return v
}

// pad writes v in at least width digits, a minus sign before them.
func pad(buf []byte, v int64, width int) []byte {
	if v < 0 {
		buf = append(buf, '-')
		v = -v
	}
	s := strconv.FormatInt(v, 10)
	for range width - len(s) {
		buf = append(buf, '0')
	}
	return append(buf, s...)
}

func (f *calendarFields) date(buf []byte) []byte {
	buf = pad(buf, f.int("year", -1e9, 1e9), 4)
	buf = pad(append(buf, '-'), f.int("month", 1, 12), 2)
	return pad(append(buf, '-'), f.int("day", 1, 31), 2)
}

func (f *calendarFields) time(buf []byte) []byte {
	buf = pad(buf, f.int("hour", 0, 23), 2)
	buf = pad(append(buf, ':'), f.int("minute", 0, 59), 2)
	buf = pad(append(buf, ':'), f.int("second", 0, 60), 2)
	us, ok := f.m[etf.Atom("microsecond")].(etf.Tuple)
	var v, p int64
	if ok && len(us) == 2 {
		v, _ = us[0].(int64)
		p, ok = us[1].(int64)
	}
	if !ok || len(us) != 2 || v < 0 || v > 999999 || p < 0 || p > 6 {
		if f.err == nil {
			f.err = fmt.Errorf("%w: microsecond is %v", errPhxUnencodable, f.m[etf.Atom("microsecond")])
		}
		return buf
	}
	if p > 0 {
		digits := pad(nil, v, 6)
		buf = append(append(buf, '.'), digits[:p]...)
	}
	return buf
}

// offset writes "Z" for UTC (Etc/UTC, no offset), else ±HH:MM.
func (f *calendarFields) offset(buf []byte) []byte {
	total := f.int("utc_offset", -86400, 86400) + f.int("std_offset", -86400, 86400)
	if total == 0 && f.m[etf.Atom("time_zone")] == "Etc/UTC" {
		return append(buf, 'Z')
	}
	sign := byte('+')
	if total < 0 {
		sign, total = '-', -total
	}
	buf = pad(append(buf, sign), total/3600, 2)
	return pad(append(buf, ':'), total%3600/60, 2)
}
