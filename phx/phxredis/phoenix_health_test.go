package phxredis

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// Redis stalled (CLIENT PAUSE) while a publisher floods the Phoenix
// channel: what waits to be published never passes QueueBytes (nor
// QueueLength), the rest is refused with ErrQueueFull, and what was queued
// goes out once Redis answers again.
func TestPhoenixQueueBound(t *testing.T) {
	for _, bound := range []struct{ length, bytes int }{{100000, 16 << 10}, {40, 1 << 20}} {
		t.Run(fmt.Sprintf("%dmsgs_%dB", bound.length, bound.bytes), func(t *testing.T) {
			s := redistest.NewServer(t)
			p := phoenixNode(t, s.URL(), "go1", PhoenixOptions{QueueLength: bound.length, QueueBytes: bound.bytes})
			do(t, s, "client", "pause", "1500", "all")
			payload := `{"x":"` + strings.Repeat("x", 100) + `"}`
			var queued, full int
			maxMsgs, maxBytes := 0, int64(0)
			for queued+full < 20000 {
				switch err := p.Broadcast(bc("room:flood", payload)); err {
				case nil:
					queued++
				case ErrQueueFull:
					full++
				default:
					t.Fatalf("Broadcast: %v", err)
				}
				maxMsgs = max(maxMsgs, len(p.queue))
				maxBytes = max(maxBytes, p.queuedB.Load())
			}
			if maxMsgs > bound.length || maxBytes > int64(bound.bytes) || full == 0 {
				t.Fatalf("queue reached %d messages and %d bytes (bounds %d and %d); %d refused",
					maxMsgs, maxBytes, bound.length, bound.bytes, full)
			}
			eventually(t, "the queue drained once Redis answered", func() bool {
				return p.Stats().Published == uint64(queued) && p.queuedB.Load() == 0
			})
			if st := p.Stats(); st.PublishDropped != uint64(full) || st.PublishErrors != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// A Redis that stops answering without closing anything is noticed on the
// Phoenix channel too: its connection is replaced after an unanswered ping
// (one that died silently would otherwise never report an error), and
// Elixir-format broadcasts cross again once Redis answers.
func TestPhoenixUnansweredPingReconnects(t *testing.T) {
	s := redistest.NewServer(t)
	a := phoenixNode(t, s.URL(), "go1", PhoenixOptions{})
	b := phoenixNode(t, s.URL(), "go2", PhoenixOptions{})
	r := newRec()
	b.Subscribe("room:p", r)
	do(t, s, "client", "pause", "5000", "all") // well past the 2 s a quiet connection gets
	eventually(t, "the Phoenix connection replaced", func() bool { return b.Stats().Reconnects >= 1 })
	eventually(t, "Redis answers again", func() bool { return a.Connected() && b.Connected() })
	eventually(t, "a broadcast crosses again", func() bool {
		_ = a.Broadcast(bc("room:p", `{"after":1}`))
		return len(r.payloads()) > 0
	})
}
