package phx

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Connect's context behaves as a context.WithTimeout's: a deadline
// ConnectTimeout away, Done closed at the deadline, canceled once Connect
// returned (also for a Done asked for only afterwards).
func TestConnectContext(t *testing.T) {
	var kept context.Context
	var during error
	srv := newServerForTest(t, Config{ConnectTimeout: time.Hour,
		Connect: func(ctx context.Context, _ *ConnectInfo) (Assigns, error) {
			if d, ok := ctx.Deadline(); !ok || time.Until(d) < 59*time.Minute {
				t.Errorf("deadline %v, %v", d, ok)
			}
			kept, during = ctx, ctx.Err()
			return Assigns{}, nil
		}})
	if _, ce := srv.connect(&ConnectInfo{}); ce != nil {
		t.Fatal(ce)
	}
	if during != nil {
		t.Fatalf("Err during Connect: %v", during)
	}
	select {
	case <-kept.Done():
	default:
		t.Fatal("Done not closed after Connect returned")
	}
	if !errors.Is(kept.Err(), context.Canceled) {
		t.Fatalf("Err after Connect %v", kept.Err())
	}

	// Done asked for only after Connect returned is closed too.
	c := newConnectCtx(time.Hour)
	c.end()
	<-c.Done()

	// The deadline closes Done while Connect still runs.
	c = newConnectCtx(20 * time.Millisecond)
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed at the deadline")
	}
	if !errors.Is(c.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err at the deadline %v", c.Err())
	}
	c.end()
	// A context derived from it follows it.
	d, cancel := context.WithCancel(newConnectCtx(time.Hour))
	cancel()
	<-d.Done()
}

// A Connect that never looks at its context costs no timer: the context
// is one small allocation.
func TestConnectContextIsCheap(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: func(context.Context, *ConnectInfo) (Assigns, error) {
		return Assigns{}, nil
	}})
	info := &ConnectInfo{}
	if n := testing.AllocsPerRun(100, func() { _, _ = srv.connect(info) }); n > 1 {
		t.Fatalf("connect: %v allocations, want at most 1", n)
	}
}
