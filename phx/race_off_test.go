//go:build !race

package phx

// raceEnabled: see race_on_test.go.
const raceEnabled = false
