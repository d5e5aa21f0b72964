package netpoll

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run if goroutines of this package (or of easygo's
// epoll loop) outlive the tests: every Server must stop all of its own.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" { // re-executed as a scale-test client
		os.Exit(m.Run())
	}
	countEvents = true // before any Server starts: the epoll goroutines read it
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if leaked := waitLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutine leak (before tests: %d, now: %d):\n%s\n",
				before, runtime.NumGoroutine(), leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitLeaks returns the stacks of leftover goroutines that belong to us.
func waitLeaks(limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		leaked := ourGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ourGoroutines() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		s := string(g)
		if strings.Contains(s, "netpoll.TestMain(") || strings.Contains(s, "testing.(*M).") {
			continue
		}
		if strings.Contains(s, "phxgo/netpoll") || strings.Contains(s, "easygo/netpoll") {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n\n")
}
