package procstat

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package when goroutines outlive its tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCPUAtAndRSSBefore(t *testing.T) {
	s := []Sample{{At: 10, CPU: 1, RSS: 100}, {At: 20, CPU: 3, RSS: 200}, {At: 40, CPU: 4, RSS: 150}}
	for _, c := range []struct {
		t   int64
		cpu float64
		rss int64
	}{{5, 1, 0}, {10, 1, 100}, {15, 2, 100}, {30, 3.5, 200}, {40, 4, 150}, {99, 4, 150}} {
		if got := CPUAt(s, c.t); got != c.cpu {
			t.Errorf("CPUAt(%d) = %v, want %v", c.t, got, c.cpu)
		}
		if got := RSSBefore(s, c.t); got != c.rss {
			t.Errorf("RSSBefore(%d) = %v, want %v", c.t, got, c.rss)
		}
	}
}

// The sampler reads this very process and stops cleanly.
func TestSamplerSelf(t *testing.T) {
	s, err := Start(os.Getpid(), 10*time.Millisecond, "", time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	got := s.Stop()
	if len(got) < 2 {
		t.Fatalf("%d samples, want at least the first and the last", len(got))
	}
	if last := got[len(got)-1]; last.RSS <= 0 || last.Threads <= 0 {
		t.Errorf("last sample %+v has no RSS or threads", last)
	}
}
