package phx

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

// BenchmarkBroadcastFanoutCompressed is BenchmarkBroadcastFanout with a
// chat-sized message (a frame of about 170 bytes, over MinSize) to n
// subscribers, plain and over transports that negotiated compression: the
// compressed case adds one compression per broadcast (shared by all) and
// a lookup of the shared frame per delivery.
func BenchmarkBroadcastFanoutCompressed(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		for _, on := range []bool{false, true} {
			name := fmt.Sprintf("%d/plain", n)
			if on {
				name = fmt.Sprintf("%d/compressed", n)
			}
			b.Run(name, func(b *testing.B) { benchFanoutZ(b, n, on) })
		}
	}
}

func benchFanoutZ(b *testing.B, n int, on bool) {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1, LongPoll: LongPollConfig{Disabled: true},
		Compress: CompressConfig{Enabled: on}})
	defer srv.Close()
	srv.Channel("bench:*", &testChannel{})
	info := &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
	trs := make([]*zTransport, n)
	for i := range trs {
		sock := srv.newSocket(info, serializer.V2, NewAssigns("user_id", fmt.Sprint(i)))
		trs[i] = &zTransport{on: on}
		srv.opened(sock, trs[i])
		if err := sock.handleFrame([]byte(`["1","1","bench:x","phx_join",{}]`), false); err != nil {
			b.Fatal(err)
		}
	}
	benchBroadcast(b, srv, n, func() int64 { f, _ := zSums(trs); return f },
		RawJSON(`{"user":"alice","body":"hello everyone, how is it going today? I was thinking we could meet at the cafe","ts":1733477000123}`))
}
