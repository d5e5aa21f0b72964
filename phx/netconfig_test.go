package phx

import (
	"reflect"
	"testing"

	"github.com/phxgo/phxgo/netpoll"
)

// fillDistinct sets every numeric field of the struct v points to a
// different non-zero value.
func fillDistinct(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.5)
		default:
			t.Fatalf("field %s: unexpected kind %v", v.Type().Field(i).Name, f.Kind())
		}
	}
}

// sameFields checks that every field of a (a phx struct) holds the same
// value in b (its netpoll counterpart), and that b has no field a lacks
// besides those in skip.
func sameFields(t *testing.T, a, b reflect.Value, skip ...string) {
	t.Helper()
	for i := range a.NumField() {
		name := a.Type().Field(i).Name
		bf := b.FieldByName(name)
		if !bf.IsValid() {
			t.Errorf("%s.%s has no %s counterpart", a.Type(), name, b.Type())
			continue
		}
		if !reflect.DeepEqual(a.Field(i).Interface(), bf.Interface()) {
			t.Errorf("%s: %v, carried as %v", name, a.Field(i), bf)
		}
	}
	seen := map[string]bool{}
	for _, s := range skip {
		seen[s] = true
	}
	for i := range b.NumField() {
		if name := b.Type().Field(i).Name; !seen[name] && !a.FieldByName(name).IsValid() {
			t.Errorf("%s.%s is not carried by %s", b.Type(), name, a.Type())
		}
	}
}

// Every NetConfig knob reaches the event loop's config unchanged, and every
// knob of the event loop (but its logger, which is Config.Logger) is one.
func TestNetConfigCarriesEveryKnob(t *testing.T) {
	var c NetConfig
	fillDistinct(t, reflect.ValueOf(&c).Elem())
	log := testLogger()
	nc := c.netpoll(log)
	if nc.Logger != log {
		t.Error("event loop logger is not Config.Logger")
	}
	// Deflate comes from Config.Compress (TestCompressConfigCarried).
	sameFields(t, reflect.ValueOf(c), reflect.ValueOf(nc), "Logger", "Deflate")
}

func TestNetStatsCarriesEveryCounter(t *testing.T) {
	var s netpoll.Stats
	fillDistinct(t, reflect.ValueOf(&s).Elem())
	sameFields(t, reflect.ValueOf(netStats(s)), reflect.ValueOf(s))
}

func TestNetStatsBeforeEventLoop(t *testing.T) {
	srv := newServerForTest(t, Config{})
	if got := srv.NetStats(); got != (NetStats{}) {
		t.Fatalf("NetStats before the event loop: %+v", got)
	}
}
