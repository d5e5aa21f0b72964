package phx

import (
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

// stateProbe records the state its channel reports from inside Join.
type stateProbe struct{ inJoin chan ChannelState }

func (sp stateProbe) Join(c *Channel, _ Payload) (any, error) {
	sp.inJoin <- c.State()
	return nil, nil
}

func (stateProbe) HandleIn(*Channel, *InMessage) (any, error) { return Empty, nil }

// Channel.State moves joining → joined → closed.
func TestChannelState(t *testing.T) {
	srv := newServerForTest(t, Config{})
	sp := stateProbe{inJoin: make(chan ChannelState, 1)}
	srv.Channel("probe:*", sp)
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.join("probe:a", "1")
	if s := <-sp.inJoin; s != ChannelJoining || s.String() != "joining" {
		t.Fatalf("state in Join: %v", s)
	}
	c := h.sock.lookup("probe:a")
	h.settle()
	if s := c.State(); s != ChannelJoined || s.String() != "joined" {
		t.Fatalf("state after the join: %v", s)
	}
	h.in(`["1","2","probe:a","phx_leave",{}]`)
	<-c.Done()
	if s := c.State(); s != ChannelClosed || s.String() != "closed" {
		t.Fatalf("state after leave: %v", s)
	}
}
