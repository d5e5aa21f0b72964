package serializer

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	m := Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "new_msg", Payload: []byte(`{"body":"hi"}`)}
	c := NewCache(m)
	for _, v := range []Version{V1, V2} {
		want, _, _ := Encode(v, nil, &m)
		got, isBinary, err := c.Encoded(v)
		if err != nil || isBinary || !bytes.Equal(got, want) {
			t.Fatalf("%s: %s %v %v; want %s", v, got, isBinary, err, want)
		}
		again, _, _ := c.Encoded(v)
		if &again[0] != &got[0] {
			t.Fatalf("%s: encoded twice", v)
		}
	}
	if _, _, err := c.Encoded(Version(3)); !errors.Is(err, ErrUnsupportedVsn) {
		t.Fatalf("Version(3): %v", err)
	}
}

func TestCacheBinary(t *testing.T) {
	c := NewCache(Message{Kind: KindBroadcast, Topic: "room:1", Event: "blob", Payload: []byte{0xde, 0xad}, Binary: true})
	frame, isBinary, err := c.Encoded(V2)
	if err != nil || !isBinary || string(frame) != "\x02\x06\x04room:1blob\xde\xad" {
		t.Fatalf("V2: %q %v %v", frame, isBinary, err)
	}
	if _, _, err := c.Encoded(V1); !errors.Is(err, ErrBinaryV1) {
		t.Fatalf("V1: %v", err)
	}
}

// TestCacheConcurrent has many goroutines ask for both encodings at once;
// run with -race. Every caller must get the very same bytes.
func TestCacheConcurrent(t *testing.T) {
	m := Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "presence_diff", Payload: []byte(`{"joins":{},"leaves":{}}`)}
	c := NewCache(m)
	const goroutines = 64
	var wg sync.WaitGroup
	firsts := make([][2]*byte, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				v := Version(1 + (g+i)%2)
				frame, _, err := c.Encoded(v)
				if err != nil {
					t.Error(err)
					return
				}
				firsts[g][v-1] = &frame[0]
			}
		}()
	}
	wg.Wait()
	for g := range firsts {
		if firsts[g] != firsts[0] {
			t.Fatalf("goroutine %d saw different buffers", g)
		}
	}
}

func TestCacheAllocs(t *testing.T) {
	skipUnderRace(t)
	c := NewCache(Message{Kind: KindBroadcast, Topic: "room:lobby", Event: "new_msg", Payload: []byte(`{"body":"hi"}`)})
	c.Encoded(V2)
	if n := testing.AllocsPerRun(100, func() { c.Encoded(V2) }); n != 0 {
		t.Fatalf("%v allocations per cached call", n)
	}
}
