package phx

import (
	"context"
	"sync"
	"time"
)

// connectCtx is the context Connect runs under. Its deadline is
// Config.ConnectTimeout away, but the timer that closes Done is made only
// when something asks for Done or Err: most Connect funcs never look (they
// check a token and return), and a timer per connect costs an allocation
// of a few hundred bytes and two trips through the runtime's timer heap.
// Once Connect has returned, the context is canceled, as a
// context.WithTimeout's would be.
type connectCtx struct {
	deadline time.Time

	mu     sync.Mutex
	inner  context.Context // made on first Done or Err
	cancel context.CancelFunc
	ended  bool // Connect returned
}

// ctx returns the context behind Done and Err, making it if need be.
func (c *connectCtx) ctx() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithDeadline(context.Background(), c.deadline)
		if c.ended {
			c.cancel()
		}
	}
	return c.inner
}

// end cancels the context (Connect returned).
func (c *connectCtx) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	if c.cancel != nil {
		c.cancel()
	}
}

func (c *connectCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *connectCtx) Done() <-chan struct{}       { return c.ctx().Done() }
func (c *connectCtx) Err() error                  { return c.ctx().Err() }
func (c *connectCtx) Value(any) any               { return nil }
func (c *connectCtx) String() string              { return "phx.connectCtx" }

// AfterFunc arranges for f to run once the context is done, as
// context.AfterFunc does. The context package looks for this method: a
// context derived from this one (context.WithTimeout(ctx, ...)) registers
// with the inner context instead of starting a goroutine to watch Done.
func (c *connectCtx) AfterFunc(f func()) (stop func() bool) {
	return context.AfterFunc(c.ctx(), f)
}
