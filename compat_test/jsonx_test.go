package compat_test

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// jsonEqual compares two JSON texts as values: object key order and
// whitespace do not matter (Phoenix sorts keys, phxd need not), numbers are
// compared by value. Invalid JSON on either side is unequal.
func jsonEqual(a, b []byte) bool {
	va, err := decodeJSON(a)
	if err != nil {
		return false
	}
	vb, err := decodeJSON(b)
	if err != nil {
		return false
	}
	return valueEqual(va, vb)
}

func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, &json.SyntaxError{}
	}
	return v, nil
}

func valueEqual(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, va := range a {
			vb, ok := b[k]
			if !ok || !valueEqual(va, vb) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !valueEqual(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number:
		b, ok := b.(json.Number)
		if !ok {
			return false
		}
		if a == b {
			return true
		}
		fa, errA := strconv.ParseFloat(string(a), 64)
		fb, errB := strconv.ParseFloat(string(b), 64)
		return errA == nil && errB == nil && fa == fb
	default: // string, bool, nil
		return a == b
	}
}

// mustJSON marshals v (test data only).
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// v2 builds a V2 text frame [join_ref, ref, topic, event, payload]. Refs are
// given as JSON text ("null", `"3"`, `5`), payload as JSON text.
func v2(joinRef, ref, topic, event, payload string) string {
	return "[" + joinRef + "," + ref + "," + string(mustJSON(topic)) + "," + string(mustJSON(event)) + "," + payload + "]"
}

// q quotes a ref as a JSON string: q("3") == `"3"`.
func q(s string) string { return string(mustJSON(s)) }

// reply builds a reply payload {"status":…,"response":…}.
func reply(status, response string) string {
	return `{"status":` + q(status) + `,"response":` + response + `}`
}

// v1 builds a V1 text frame {"topic","event","payload","ref"[,"join_ref"]};
// joinRef "" leaves the key out.
func v1(joinRef, ref, topic, event, payload string) string {
	s := `{"topic":` + q(topic) + `,"event":` + q(event) + `,"payload":` + payload + `,"ref":` + ref
	if joinRef != "" {
		s += `,"join_ref":` + joinRef
	}
	return s + "}"
}
