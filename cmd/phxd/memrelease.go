package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// After a burst (thousands of connections, a flood of messages) the Go
// heap keeps the pages it grew into. The runtime's background scavenger
// returns them slowly, and an idle server runs a collection only every 2
// minutes (the runtime's forced GC), so garbage and buffers pooled for
// reuse (sync.Pool drops them only at the second collection) keep RSS high:
// hundreds of MB stayed with a few MB live.
//
// memReleaser checks the heap every -mem-release interval and calls
// debug.FreeOSMemory (one collection, then every free page goes back to the
// OS) when either:
//
//   - free-but-held heap memory is at least -mem-release-min MiB and more
//     than the live heap (a busy server after a burst), or
//   - the server went quiet: less than -mem-release-min MiB allocated since
//     the previous check, after a busier period, with at least that much
//     heap held. This fires for two quiet checks in a row (the second
//     collection frees what pools held), then not again until the server
//     has been busy.
//
// A steady server, whose free memory stays under its live heap, is left
// alone; an idle one pays two collections after each busy period. So RSS
// is back near its live size within about three intervals of a burst.
type memReleaser struct {
	minFree uint64
	samples []metrics.Sample

	lastAllocs  uint64 // cumulative heap allocations at the previous step
	quietLeft   int    // releases still due for the current quiet period
	initialized bool
}

// quietReleases is how many consecutive quiet checks release: the first
// collection moves sync.Pool contents to the victim cache, the second frees
// them.
const quietReleases = 2

const (
	metricHeapFree    = "/memory/classes/heap/free:bytes"    // free, not yet returned to the OS
	metricHeapLive    = "/gc/heap/live:bytes"                // live heap at the last collection
	metricHeapObjects = "/memory/classes/heap/objects:bytes" // live and not yet collected objects
	metricHeapAllocs  = "/gc/heap/allocs:bytes"              // cumulative bytes allocated
)

func newMemReleaser(minFree uint64) *memReleaser {
	return &memReleaser{minFree: minFree, samples: []metrics.Sample{
		{Name: metricHeapFree}, {Name: metricHeapLive}, {Name: metricHeapObjects}, {Name: metricHeapAllocs}}}
}

// heapStats is one reading of the metrics memReleaser uses.
type heapStats struct {
	free, live, objects, allocs uint64
}

func (m *memReleaser) read() heapStats {
	metrics.Read(m.samples)
	return heapStats{free: sampleUint(m.samples[0]), live: sampleUint(m.samples[1]),
		objects: sampleUint(m.samples[2]), allocs: sampleUint(m.samples[3])}
}

func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

// decide applies the policy to a reading and updates the quiet-period
// state; it reports whether to release and why.
func (m *memReleaser) decide(h heapStats) (release bool, why string) {
	allocated := h.allocs - min(h.allocs, m.lastAllocs)
	first := !m.initialized
	m.lastAllocs, m.initialized = h.allocs, true
	busy := first || allocated >= m.minFree
	if busy {
		m.quietLeft = quietReleases // the next quiet period releases again
	}
	switch {
	case h.free >= m.minFree && h.free > h.live:
		return true, "free heap over the live heap"
	case !busy && m.quietLeft > 0 && h.free+h.objects >= m.minFree:
		m.quietLeft--
		return true, "server went quiet"
	}
	return false, ""
}

// step checks once and releases when the policy says so; it returns the
// reading before the release and the reason ("" when it did nothing).
func (m *memReleaser) step() (heapStats, string) {
	h := m.read()
	release, why := m.decide(h)
	if release {
		debug.FreeOSMemory()
		// the collection's own allocations do not make the next check busy
		m.lastAllocs = m.read().allocs
	}
	return h, why
}

// run steps every interval until ctx ends.
func (m *memReleaser) run(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if before, why := m.step(); why != "" {
				after := m.read()
				log.Info("returned free heap memory to the OS", "why", why,
					"held_before_bytes", before.free+before.objects, "held_after_bytes", after.free+after.objects,
					"live_bytes", after.live)
			}
		}
	}
}
