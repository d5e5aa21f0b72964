package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// After a burst (thousands of connections, a flood of messages) the Go
// heap keeps the pages it grew into: the runtime's background scavenger
// returns them to the OS only slowly, and an idle server runs few
// collections, so RSS stayed at hundreds of MB with a few MB live.
// memReleaser checks, every -mem-release interval, how much of the heap is
// free but still held (backed by physical memory), and when that is at
// least -mem-release-min MiB and more than the live heap, it calls
// debug.FreeOSMemory: one extra collection plus returning every free page.
// A steady server, whose free memory stays under its live heap, is left
// alone. Freed memory becomes "free" at the collection after the burst; an
// idle runtime forces one at least every 2 minutes, so RSS is back within
// 2 minutes plus one interval.
type memReleaser struct {
	minFree uint64
	samples []metrics.Sample
}

const (
	metricHeapFree = "/memory/classes/heap/free:bytes" // free, not yet returned to the OS
	metricHeapLive = "/gc/heap/live:bytes"             // live heap at the last collection
)

func newMemReleaser(minFree uint64) *memReleaser {
	return &memReleaser{minFree: minFree, samples: []metrics.Sample{
		{Name: metricHeapFree}, {Name: metricHeapLive}}}
}

// read returns the heap's free-but-held bytes and its live bytes.
func (m *memReleaser) read() (free, live uint64) {
	metrics.Read(m.samples)
	return sampleUint(m.samples[0]), sampleUint(m.samples[1])
}

func sampleUint(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}

// step checks once and releases when worth it; it reports the free bytes
// seen and whether it released them.
func (m *memReleaser) step() (free uint64, released bool) {
	free, live := m.read()
	if free < m.minFree || free <= live {
		return free, false
	}
	debug.FreeOSMemory()
	return free, true
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
			if free, released := m.step(); released {
				after, live := m.read()
				log.Info("returned free heap memory to the OS", "freed_bytes", free-min(free, after), "live_bytes", live)
			}
		}
	}
}
