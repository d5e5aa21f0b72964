package phx

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// slowTerminate is a channel whose Terminate blocks until released.
type slowTerminate struct {
	entered chan struct{}
	release chan struct{}
}

func (h *slowTerminate) Join(*Channel, Payload) (any, error) { return nil, nil }

func (h *slowTerminate) HandleIn(*Channel, *InMessage) (any, error) { return nil, nil }

func (h *slowTerminate) Terminate(*Channel, error) {
	close(h.entered)
	<-h.release
}

// closeWithSlowTerminate closes a socket joined to one slowTerminate
// channel on a goroutine, once Terminate is running, and returns the log.
func closeWithSlowTerminate(t *testing.T, wait time.Duration) (*lineRecorder, *slowTerminate, chan struct{}) {
	rec := newLineRecorder()
	srv := newServerForTest(t, Config{Logger: rec.logger()})
	srv.teardownWait = wait
	h := &slowTerminate{entered: make(chan struct{}), release: make(chan struct{})}
	srv.Channel("room:*", h)
	hr := srv.connectForTest(t, serializer.V2, Assigns{})
	hr.join("room:a", "1")
	returned := make(chan struct{})
	go func() {
		hr.sock.closedByTransport(CloseGoingAway, "")
		close(returned)
	}()
	<-h.entered
	return rec, h, returned
}

// TestSocketClosedLoggedAfterTerminate: "socket closed" means torn down:
// it is written after every channel's Terminate (where Presence untracks)
// has returned, so a reader of the log (an operator, a test waiting for a
// socket to be gone) never sees it while a channel is still ending.
func TestSocketClosedLoggedAfterTerminate(t *testing.T) {
	rec, h, returned := closeWithSlowTerminate(t, teardownWait)
	if got := rec.matching(`msg="socket closed"`); len(got) != 0 {
		t.Fatalf("logged while Terminate was still running: %q", got)
	}
	select { // Terminate is blocked: the teardown cannot have ended
	case <-returned:
		t.Fatal("the teardown ended while a channel's Terminate was still running")
	default:
	}
	close(h.release)
	<-returned
	got := rec.matching(`msg="socket closed"`)
	if len(got) != 1 || !strings.Contains(got[0], "channels=1 not_terminated=0") {
		t.Fatalf("socket closed lines %q, want one with channels=1 not_terminated=0", got)
	}
}

// TestSocketClosedLogWaitIsBounded: a Terminate that hangs delays the line
// by Server.teardownWait at most, and the line says one channel had not ended.
func TestSocketClosedLogWaitIsBounded(t *testing.T) {
	rec, h, returned := closeWithSlowTerminate(t, 50*time.Millisecond)
	defer close(h.release)
	<-returned // returns although Terminate is still blocked
	got := rec.matching(`msg="socket closed"`)
	if len(got) != 1 || !strings.Contains(got[0], "channels=1 not_terminated=1") {
		t.Fatalf("socket closed lines %q, want one with channels=1 not_terminated=1", got)
	}
}

// TestShutdownWaitsForTerminate: Shutdown returns only once every channel
// of the drained sockets has terminated, so an app that closes its
// Presence or PubSub after Shutdown does not race the last leaves. Here
// Terminate hangs until released: Shutdown must end with its context's
// deadline, not return success while the channel is still ending.
func TestShutdownWaitsForTerminate(t *testing.T) {
	srv := newServerForTest(t, Config{DrainInterval: time.Millisecond,
		Net: NetConfig{CloseTimeout: 50 * time.Millisecond}})
	srv.teardownWait = time.Minute
	h := &slowTerminate{entered: make(chan struct{}), release: make(chan struct{})}
	srv.Channel("room:*", h)
	c := dialWire(t, startWire(t, srv))
	if err := c.send(`["1","1","room:a","phx_join",{}]`); err != nil {
		t.Fatal(err)
	}
	c.expectText(`["1","1","room:a","phx_reply",{"response":{},"status":"ok"}]`)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := srv.Shutdown(ctx)
	select {
	case <-h.entered:
	default:
		t.Fatalf("Shutdown returned (%v) before the socket's channel began to terminate", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown returned %v while Terminate still ran, want the context's deadline", err)
	}
	close(h.release)
	if err := srv.teardowns.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}
