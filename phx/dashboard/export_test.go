package dashboard

import "time"

// SetMaxRatedTopics lowers the bound on rated topics for a test (call it
// before New; the returned func restores it after Close).
func SetMaxRatedTopics(n int) (restore func()) {
	old := maxRatedTopics
	maxRatedTopics = n
	return func() { maxRatedTopics = old }
}

// SetWalkIdle sets how long the topic walk goes on after the last request
// (call it before New; restore after Close).
func SetWalkIdle(d time.Duration) (restore func()) {
	old := walkIdle
	walkIdle = d
	return func() { walkIdle = old }
}
