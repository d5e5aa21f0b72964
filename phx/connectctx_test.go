package phx

import (
	"context"
	"errors"
	"runtime"
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
}

// Contexts derived from Connect's follow it when it ends, and deriving
// them starts no goroutine per context (connectCtx has AfterFunc, which
// the context package uses instead of a watcher goroutine).
func TestConnectContextDerived(t *testing.T) {
	const n = 50
	parent := newConnectCtx(time.Hour)
	before := runtime.NumGoroutine()
	var children []context.Context
	for range n {
		d, cancel := context.WithTimeout(parent, time.Hour)
		defer cancel()
		children = append(children, d)
	}
	if grown := runtime.NumGoroutine() - before; grown >= n/2 {
		t.Fatalf("%d derived contexts started %d goroutines", n, grown)
	}
	for _, d := range children {
		if d.Err() != nil {
			t.Fatalf("derived context done before its parent: %v", d.Err())
		}
	}
	parent.end()
	for i, d := range children {
		select {
		case <-d.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("derived context %d not done after its parent ended", i)
		}
		if !errors.Is(d.Err(), context.Canceled) {
			t.Fatalf("derived context %d: %v", i, d.Err())
		}
	}
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

// newConnectCtx returns a context whose deadline is timeout away, as
// connectWith arms one.
func newConnectCtx(timeout time.Duration) *connectCtx {
	return &connectCtx{deadline: time.Now().Add(timeout)}
}
