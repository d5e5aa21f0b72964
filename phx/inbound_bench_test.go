package phx

import (
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

// countingChannel counts the events it handled and replies to none.
type countingChannel struct{ n atomic.Int64 }

func (*countingChannel) Join(*Channel, Payload) (any, error) { return nil, nil }

func (c *countingChannel) HandleIn(*Channel, *InMessage) (any, error) {
	c.n.Add(1)
	return nil, nil
}

// BenchmarkInboundEvent measures one client event from the transport's
// frame to its handler (handleFrame → route → mailbox → HandleIn), with
// caps far away: the cost of the inbound accounting on the common path.
func BenchmarkInboundEvent(b *testing.B) {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1,
		MaxInbound: 1 << 30, MaxInboundBytes: 1 << 40})
	b.Cleanup(func() { _ = srv.Close() })
	cc := &countingChannel{}
	srv.Channel("c:*", cc)
	info := &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
	sock := srv.newSocket(info, serializer.V2, Assigns{})
	tr := newFakeTransport()
	srv.opened(sock, tr)
	b.Cleanup(func() { sock.closedByTransport(CloseAbnormal, "") })
	if err := sock.handleFrame([]byte(`["1","1","c:a","phx_join",{}]`), false); err != nil {
		b.Fatal(err)
	}
	<-tr.frames // the join reply
	frame := []byte(`["1","2","c:a","ev",{"a":1}]`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := sock.handleFrame(frame, false); err != nil {
			b.Fatal(err)
		}
	}
	for cc.n.Load() < int64(b.N) {
		runtime.Gosched()
	}
}
