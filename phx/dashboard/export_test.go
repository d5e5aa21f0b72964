package dashboard

// SetMaxRatedTopics lowers the bound on rated topics for a test (call it
// before New; the returned func restores it after Close).
func SetMaxRatedTopics(n int) (restore func()) {
	old := maxRatedTopics
	maxRatedTopics = n
	return func() { maxRatedTopics = old }
}
