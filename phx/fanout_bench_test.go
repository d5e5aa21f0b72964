package phx

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkBroadcastFanout measures the runtime's own cost of one broadcast
// to n joined subscribers (transports that drop frames: no I/O), per
// delivery.
func BenchmarkBroadcastFanout(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1, LongPoll: LongPollConfig{Disabled: true}})
			defer srv.Close()
			srv.Channel("bench:*", &testChannel{})
			socks, trs := benchSockets(srv, n)
			for _, s := range socks {
				if err := s.handleFrame([]byte(`["1","1","bench:x","phx_join",{}]`), false); err != nil {
					b.Fatal(err)
				}
			}
			benchBroadcast(b, srv, n, func() int64 { f, _ := sumFrames(trs); return f }, RawJSON(`{"user":"u1","body":"hello"}`))
		})
	}
}

// benchBroadcast waits until n subscribers joined bench:x (joined counts
// the frames they received: at least their join replies), then times b.N
// broadcasts of payload to them and reports the time per delivery.
func benchBroadcast(b *testing.B, srv *Server, n int, joined func() int64, payload RawJSON) {
	deadline := time.Now().Add(30 * time.Second)
	for srv.pubsub.Subscribers("bench:x") < n || joined() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatal("subscribers did not join")
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := srv.Broadcast("bench:x", "new_msg", payload); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}
