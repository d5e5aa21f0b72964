//go:build race

package phxredis

// raceEnabled reports whether the tests run with the race detector, which
// distorts allocation counts. A test whose bound is only meaningful without
// it names raceEnabled in its own body: .ci/noracetests.go finds it by that,
// and the test command runs it once more without -race.
const raceEnabled = true
