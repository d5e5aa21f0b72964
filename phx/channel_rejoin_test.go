package phx

import (
	"testing"

	"github.com/phxgo/phxgo/phx/pubsub"
	"github.com/phxgo/phxgo/serializer"
)

// holdingPubSub holds the first Unsubscribe until released, so a test can
// act while a channel is half-way through its end.
type holdingPubSub struct {
	*pubsub.Memory
	held    chan struct{} // closed when an Unsubscribe is being held
	release chan struct{}
}

func (h *holdingPubSub) Unsubscribe(topic string, s pubsub.Subscriber) {
	select {
	case <-h.held:
	default:
		close(h.held)
		<-h.release
	}
	h.Memory.Unsubscribe(topic, s)
}

// A rejoin that arrives while the crashed instance is still ending gets
// its reply and no phx_close for the crashed instance: that one ended by
// itself (its phx_error is out), it was not replaced by the rejoin.
func TestRejoinAfterCrashNoClose(t *testing.T) {
	bothVersions(t, func(t *testing.T, ver serializer.Version) {
		ps := &holdingPubSub{Memory: pubsub.NewMemory(), held: make(chan struct{}), release: make(chan struct{})}
		srv := newServerForTest(t, Config{PubSub: ps})
		srv.Channel("room:*", &testChannel{})
		h := srv.connectForTest(t, ver, Assigns{})
		h.joinV("room:a", "1")
		// The crash must end in the mailbox while the reader goes on (as
		// for a channel found slow): inline, it would hold this goroutine.
		h.sock.lookup("room:a").pinMailbox()
		h.in(h.frame("1", "3", "room:a", "crash"))
		if m := h.nextMsg(); m.Event != serializer.EventError {
			t.Fatalf("got %+v, want phx_error", m)
		}
		<-ps.held // the crashed instance is ending, still registered
		h.in(h.frame("4", "4", "room:a", "phx_join"))
		close(ps.release)
		if m := h.nextMsg(); m.Kind != serializer.KindReply || m.Status != "ok" {
			t.Fatalf("got %+v, want the rejoin's ok reply", m)
		}
		h.expectNone()
	})
}
