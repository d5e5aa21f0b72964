package netpoll

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakWindow is how long the end-of-run check waits for goroutines to end
// (a Server's loops exit asynchronously after Close; -race slows them).
const leakWindow = 5 * time.Second

// leakOptions would name goroutines the check accepts as long-lived. There
// are none: goleak already skips the testing package's and os/signal's own,
// and every goroutine of this package (workers, watchdog, sweep) must end
// with its Server. Add one only for a goroutine the process legitimately
// keeps for good, with a comment saying why.
var leakOptions []goleak.Option

// TestMain fails the run if goroutines outlive the tests: every Server must
// stop all of its own.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" { // re-executed as a scale-test client
		os.Exit(m.Run())
	}
	countEvents = true // before any Server starts: the workers read it
	code := m.Run()
	if code == 0 {
		if err := findLeaks(leakWindow); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks runs goleak.Find (which retries for about half a second) until
// no unexpected goroutine is left or window has passed, and returns its last
// error.
func findLeaks(window time.Duration) error {
	deadline := time.Now().Add(window)
	for {
		err := goleak.Find(leakOptions...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// TestLeakCheckCatchesLeak proves the check TestMain runs is not blind: a
// goroutine this test starts, still blocked, is reported, stack and all.
func TestLeakCheckCatchesLeak(t *testing.T) {
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		leakedForTest(release)
	}()
	err := findLeaks(0)
	close(release)
	<-done
	if err == nil {
		t.Fatal("goleak found nothing while a goroutine of this test was blocked")
	}
	if !strings.Contains(err.Error(), "netpoll.leakedForTest") {
		t.Fatalf("goleak's report does not name the blocked goroutine:\n%v", err)
	}
}

// leakedForTest blocks until release is closed; its name marks the
// goroutine in goleak's report.
//
//go:noinline
func leakedForTest(release <-chan struct{}) { <-release }
