//go:build race

package phx

// raceEnabled is true under -race: tests loosen their timing bounds and
// skip the allocation and heap assertions, which the detector distorts.
const raceEnabled = true
