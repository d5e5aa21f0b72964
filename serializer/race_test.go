//go:build race

package serializer

// The race detector makes sync.Pool drop items at random, so allocation
// counts measured under it mean nothing.
func init() { raceEnabled = true }
