package phx

import (
	"testing"
	"time"
)

// pinMailbox makes all of c's later work go through its mailbox, for
// good: the state of a channel found slow, without its recovery. Tests
// whose handlers block by design use it, so that their work queues up
// behind the blocked handler instead of holding the test's reader.
func (c *Channel) pinMailbox() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slow, c.strikes = true, pinnedSlow
}

// waitIdle waits until nothing of c is queued or running (60s at most),
// without posting anything to it.
func waitIdle(t testing.TB, c *Channel) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.mu.Lock()
		busy := c.running
		c.mu.Unlock()
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("channel still busy after 60s")
		}
		time.Sleep(50 * time.Microsecond)
	}
}
