package phx

import (
	"context"
	"sync"
)

// teardowns counts socket teardowns under way (closedByTransport runs,
// which end every channel of the socket and wait for them), so that
// Shutdown returns only once every channel's Terminate and OnTerminate
// hooks have run: an app that closes its Presence or PubSub after
// Shutdown must not race the last leaves. Unlike a sync.WaitGroup it may
// go from 0 to 1 while someone waits.
type teardowns struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // made by a waiter while n > 0, closed when n drops to 0
}

// start records one teardown and runs it on a goroutine of its own (never
// inside a transport call or a fan-out: it unsubscribes).
func (t *teardowns) start(f func()) {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
	go func() {
		defer t.done()
		f()
	}()
}

func (t *teardowns) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.n == 0 && t.zero != nil {
		close(t.zero)
		t.zero = nil
	}
}

// wait returns when no teardown is under way, or with ctx's error.
func (t *teardowns) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.zero == nil {
		t.zero = make(chan struct{}) // only Shutdown waits: closes allocate none
	}
	zero := t.zero
	t.mu.Unlock()
	select {
	case <-zero:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
