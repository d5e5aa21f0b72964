package phx

import (
	"fmt"
	"testing"
	"time"
)

// ChannelTopics lists the topics with joined channels (socket id topics
// left out) with their channel and broadcast counts, and LiveStats counts
// sockets by transport and client frames.
func TestChannelTopicsAndLiveStats(t *testing.T) {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1, LongPoll: LongPollConfig{Disabled: true},
		ID: func(s *Socket) string { return "user:" + s.Assigns.String("user_id") }})
	defer srv.Close()
	srv.Channel("room:*", &testChannel{})
	socks, _ := benchSockets(srv, 5)
	for i, s := range socks {
		topic := "room:a"
		if i >= 3 {
			topic = "room:b"
		}
		frame := fmt.Sprintf(`["1","1",%q,"phx_join",{}]`, topic)
		if err := s.handleFrame([]byte(frame), false); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.pubsub.Subscribers("room:a") < 3 || srv.pubsub.Subscribers("room:b") < 2 {
		if time.Now().After(deadline) {
			t.Fatal("sockets did not join")
		}
		time.Sleep(time.Millisecond)
	}
	for range 4 {
		if err := srv.Broadcast("room:a", "e", RawJSON(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]TopicStat{}
	if !srv.ChannelTopics(func(ts TopicStat) { got[ts.Topic] = ts }) {
		t.Fatal("ChannelTopics: Memory not listed")
	}
	want := map[string]TopicStat{
		"room:a": {Topic: "room:a", Channels: 3, Broadcasts: 4},
		"room:b": {Topic: "room:b", Channels: 2, Broadcasts: 0},
	}
	if len(got) != len(want) || got["room:a"] != want["room:a"] || got["room:b"] != want["room:b"] {
		t.Errorf("ChannelTopics = %v, want %v (socket id topics left out)", got, want)
	}
	ls := srv.LiveStats()
	if ls.WebSockets != 5 || ls.LongPolls != 0 || ls.FramesIn != 5 {
		t.Errorf("LiveStats = %+v, want 5 sockets, 0 LongPoll, 5 frames in", ls)
	}
	for _, s := range socks {
		s.closedByTransport(CloseNormal, "")
	}
	if ls := srv.LiveStats(); ls.WebSockets != 0 {
		t.Errorf("after close: %d WebSocket sockets, want 0", ls.WebSockets)
	}
}

// The refusal reasons are bounded: past 32 distinct reasons the rest are
// counted under "(other)", and a long reason is cut; no count is lost.
func TestRejectReasonsBounded(t *testing.T) {
	var d dashStats
	const n = 500
	for i := range n {
		d.rejectedFor(fmt.Sprintf("reason-%d-%0100d", i, 0))
	}
	d.rejectedFor("reason-0-" + fmt.Sprintf("%0100d", 0)) // a reason already counted keeps its row
	srv := &Server{}
	srv.stats.dash.reasons = d.reasons
	r := srv.LiveStats().Rejected
	if len(r) != maxReasons {
		t.Errorf("%d reasons kept, want %d", len(r), maxReasons)
	}
	var total int64
	for k, v := range r {
		if len(k) > maxReasonBytes {
			t.Errorf("reason %q longer than %d bytes", k, maxReasonBytes)
		}
		total += v
	}
	if total != n+1 || r[otherReason] != n-(maxReasons-1) {
		t.Errorf("total %d, other %d; want %d and %d", total, r[otherReason], n+1, n-(maxReasons-1))
	}
}
