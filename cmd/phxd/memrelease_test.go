package main

import (
	"runtime"
	"testing"
)

// After a burst is dropped, one step of the releaser returns the freed heap
// to the OS: the heap's free-but-held bytes (what RSS keeps) fall from the
// burst's size to under a few MiB, without waiting for the runtime's own
// scavenger. Driven directly, not by waiting minutes.
func TestMemReleaserReturnsBurst(t *testing.T) {
	const burst = 128 << 20
	const bound = 8 << 20
	m := newMemReleaser(32 << 20)
	m.step() // start from a released heap
	func() {
		chunks := make([][]byte, 0, burst>>20)
		for range burst >> 20 {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1 // touch every page: RSS, not just address space
			}
			chunks = append(chunks, b)
		}
		runtime.KeepAlive(chunks)
	}()
	runtime.GC() // the burst is garbage now: free, but still held
	free, live := m.read()
	if free < burst/2 {
		t.Fatalf("precondition: only %d MiB free after dropping a %d MiB burst", free>>20, burst>>20)
	}
	seen, released := m.step()
	if !released || seen < burst/2 {
		t.Fatalf("step saw %d MiB free (live %d MiB), released=%v; want a release", seen>>20, live>>20, released)
	}
	if after, _ := m.read(); after > bound {
		t.Fatalf("%d MiB still free but held after the release, want ≤ %d MiB", after>>20, bound>>20)
	}
}

// A heap whose free memory is under the floor, or under its live size (a
// steady server between collections), is left alone: no extra collection.
func TestMemReleaserLeavesSteadyHeap(t *testing.T) {
	m := newMemReleaser(32 << 20)
	m.step()
	if free, released := m.step(); released {
		t.Fatalf("released with %d MiB free, under the 32 MiB floor", free>>20)
	}
	live := make([]byte, 96<<20) // a large live heap
	for i := 0; i < len(live); i += 4096 {
		live[i] = 1
	}
	runtime.GC()
	big := newMemReleaser(1) // the floor out of the way: only the live rule decides
	if free, l := big.read(); free < l {
		before := gcCount()
		if _, released := big.step(); released {
			t.Fatalf("released %d MiB free under a %d MiB live heap", free>>20, l>>20)
		}
		if n := gcCount(); n != before {
			t.Fatalf("%d collections ran for a heap left alone", n-before)
		}
	} else {
		t.Fatalf("precondition: %d MiB free over a %d MiB live heap", free>>20, l>>20)
	}
	runtime.KeepAlive(live)
}

func gcCount() uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.NumGC
}
