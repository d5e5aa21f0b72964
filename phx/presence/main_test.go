package presence

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when goroutines outlive the tests: the
// heartbeat loop, window timers, and phx's own goroutines must all end.
func TestMain(m *testing.M) {
	if code, ok := roomClientMode(); ok { // BenchmarkPresenceRoom's clients
		os.Exit(code)
	}
	code := m.Run()
	if code == 0 {
		if leaked := waitGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintln(os.Stderr, "leaked goroutines:\n"+leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitGoroutines waits for goroutines of this module, other than the test
// runner's, to end; it returns the stacks of those left.
func waitGoroutines(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var ours []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "phxgo/phxgo/") && !strings.Contains(g, "TestMain") &&
				!strings.Contains(g, "waitGoroutines") {
				ours = append(ours, g)
			}
		}
		if len(ours) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(ours, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
