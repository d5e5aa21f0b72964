//go:build !race

package phxredis

// raceEnabled: see race_on_test.go.
const raceEnabled = false
