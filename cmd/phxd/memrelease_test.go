package main

import (
	"runtime"
	"testing"
)

// touchedBurst allocates n MiB, writing every page (RSS, not just address
// space), and drops it.
func touchedBurst(n int) {
	chunks := make([][]byte, 0, n)
	for range n {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		chunks = append(chunks, b)
	}
	runtime.KeepAlive(chunks)
}

// After a burst is dropped and collected, one step returns the freed heap
// to the OS: the heap's free-but-held bytes (what RSS keeps) fall from the
// burst's size to a few MiB, without waiting for the runtime's scavenger.
// Driven directly, not by waiting minutes.
func TestMemReleaserReturnsBurst(t *testing.T) {
	const burst = 128
	const bound = 8 << 20
	m := newMemReleaser(32 << 20)
	m.step() // the first reading: start from a released heap
	touchedBurst(burst)
	runtime.GC() // the burst is garbage now: free, but still held
	if h := m.read(); h.free < burst<<20/2 {
		t.Fatalf("precondition: only %d MiB free after dropping a %d MiB burst", h.free>>20, burst)
	}
	before, why := m.step()
	if why == "" {
		t.Fatalf("no release with %d MiB free and %d MiB live", before.free>>20, before.live>>20)
	}
	if after := m.read(); after.free > bound {
		t.Fatalf("%d MiB still free but held after the release, want ≤ %d MiB", after.free>>20, bound>>20)
	}
}

// Once released, a quiet heap is left alone after its quiet releases: no
// collection every interval for a server that does nothing.
func TestMemReleaserSettles(t *testing.T) {
	m := newMemReleaser(32 << 20)
	touchedBurst(64)
	for range quietReleases + 1 {
		m.step()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcs := ms.NumGC
	for range 3 {
		if h, why := m.step(); why != "" {
			t.Fatalf("released again (%s) with %d MiB free, %d MiB objects", why, h.free>>20, h.objects>>20)
		}
	}
	runtime.ReadMemStats(&ms)
	if ms.NumGC != gcs {
		t.Fatalf("%d collections ran while the heap was left alone", ms.NumGC-gcs)
	}
}

// The policy, on readings: free memory over the live heap releases at
// once; a quiet period after a busy one releases twice (pools need two
// collections) and then stops until the server is busy again; a steady
// heap, whose free memory stays under its live size, is left alone.
func TestMemReleaserPolicy(t *testing.T) {
	const mib = 1 << 20
	m := newMemReleaser(32 * mib)
	var allocs uint64
	steps := []struct {
		name             string
		alloc            uint64 // allocated since the previous reading
		free, live, objs uint64
		release          bool
	}{
		{"first reading, small heap", 0, 1 * mib, 2 * mib, 2 * mib, false},
		{"busy, steady heap", 500 * mib, 200 * mib, 300 * mib, 400 * mib, false},
		{"busy, burst collected", 500 * mib, 800 * mib, 2 * mib, 10 * mib, true},
		{"busy, free under the floor", 500 * mib, 31 * mib, 1 * mib, 10 * mib, false},
		{"quiet after busy", 1 * mib, 10 * mib, 300 * mib, 400 * mib, true},
		{"quiet again: pools' second collection", 1 * mib, 10 * mib, 300 * mib, 400 * mib, true},
		{"quiet, already released twice", 1 * mib, 10 * mib, 300 * mib, 400 * mib, false},
		{"quiet, still", 0, 10 * mib, 300 * mib, 400 * mib, false},
		{"busy again", 100 * mib, 10 * mib, 300 * mib, 400 * mib, false},
		{"quiet, nothing held", 1 * mib, 1 * mib, 10 * mib, 20 * mib, false},
		{"quiet, heap grown", 1 * mib, 10 * mib, 300 * mib, 400 * mib, true},
		{"quiet, free over live", 0, 100 * mib, 10 * mib, 20 * mib, true},
	}
	for _, s := range steps {
		allocs += s.alloc
		got, why := m.decide(heapStats{free: s.free, live: s.live, objects: s.objs, allocs: allocs})
		if got != s.release {
			t.Fatalf("%s: release=%v (%s), want %v", s.name, got, why, s.release)
		}
	}
}
