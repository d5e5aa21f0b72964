package phx

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A LongPoll POST waiting for inbound capacity returns as soon as its
// session ends (kicked, or the server shutting down), not after
// InboundStall: a waiting POST must never hold up Shutdown's drain.
func TestInboundLongPollEndWakesPOST(t *testing.T) {
	for _, end := range []string{"kick", "shutdown"} {
		t.Run(end, func(t *testing.T) {
			const max = 4
			srv, bc, c, ss := blockedLPSession(t, Config{MaxInbound: max, InboundStall: time.Hour,
				LongPoll: LongPollConfig{Window: 50 * time.Millisecond}})

			posted := make(chan string, 1)
			go func() {
				_, body := c.do(http.MethodPost, strings.Join(workFrames(max+2), "\n"), "application/x-ndjson", nil)
				posted <- body
			}()
			waitInboundPaused(t, ss.sock)
			shut := make(chan error, 1)
			switch end {
			case "kick":
				ss.close(CloseGoingAway, "")
			case "shutdown":
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
					defer cancel()
					shut <- srv.Shutdown(ctx)
				}()
			}
			select {
			case body := <-posted:
				if body != `{"status":410}` {
					t.Fatalf("waiting POST answered %s, want {\"status\":410}", body)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("a POST waiting for inbound capacity outlived its session (InboundStall is an hour)")
			}
			if end == "shutdown" {
				select {
				case err := <-shut:
					if err != nil {
						t.Fatalf("Shutdown: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("Shutdown did not return")
				}
			}
			// The session is gone: how many queued events still run is not
			// fixed, so release every handler at once.
			close(bc.release)
		})
	}
}
