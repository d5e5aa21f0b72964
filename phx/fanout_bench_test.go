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
			deadline := time.Now().Add(30 * time.Second)
			for srv.pubsub.Subscribers("bench:x") < n || sum(trs) < int64(n) {
				if time.Now().After(deadline) {
					b.Fatal("subscribers did not join")
				}
				time.Sleep(time.Millisecond)
			}
			payload := RawJSON(`{"user":"u1","body":"hello"}`)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := srv.Broadcast("bench:x", "new_msg", payload); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

func sum(trs []*countingTransport) int64 {
	f, _ := sumFrames(trs)
	return f
}
