//go:build !race

package compat_test

// raceEnabled reports whether the tests run with the race detector, which
// distorts allocation counts and memory figures. A test whose bound is only
// meaningful without it names raceEnabled in its own body (and says why when
// it skips or relaxes that bound): .ci/noracetests.go finds it by that, and
// the test command runs it once more without -race.
const raceEnabled = false
