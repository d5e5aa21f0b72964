package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestBlockDelayBounds attacks the block event's bound: 0 and maxSlow ms
// are accepted, one past either edge, a missing or non-integer ms are not.
func TestBlockDelayBounds(t *testing.T) {
	for _, tc := range []struct {
		payload string
		want    time.Duration
		ok      bool
	}{
		{`{"ms":0}`, 0, true},
		{`{"ms":1000}`, time.Second, true},
		{`{"ms":5000}`, 5 * time.Second, true},
		{`{"ms":5001}`, 0, false},
		{`{"ms":-1}`, 0, false},
		{`{}`, 0, false},
		{`{"ms":"1"}`, 0, false},
		{`[]`, 0, false},
	} {
		d, ok := blockDelay(func(v any) error { return json.Unmarshal([]byte(tc.payload), v) })
		if d != tc.want || ok != tc.ok {
			t.Errorf("blockDelay(%s) = %v, %v; want %v, %v", tc.payload, d, ok, tc.want, tc.ok)
		}
	}
	if maxSlow != 5000 {
		t.Errorf("maxSlow = %d; the README documents 0…5000", maxSlow)
	}
}
