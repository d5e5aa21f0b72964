//go:build race

package netpoll

const raceEnabled = true
