package phx

import (
	"net/netip"
	"runtime"
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

// echoChannel replies to every event with its payload.
type echoChannel struct{}

func (echoChannel) Join(*Channel, Payload) (any, error)              { return nil, nil }
func (echoChannel) HandleIn(_ *Channel, msg *InMessage) (any, error) { return msg.Payload, nil }

// echoSocket opens a socket on a countingTransport joined to echo:a.
func echoSocket(b *testing.B) (*Socket, *countingTransport) {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1})
	b.Cleanup(func() { _ = srv.Close() })
	srv.Channel("echo:*", echoChannel{})
	info := &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
	sock := srv.newSocket(info, serializer.V2, Assigns{})
	tr := &countingTransport{}
	srv.opened(sock, tr)
	b.Cleanup(func() { sock.closedByTransport(CloseAbnormal, "") })
	if err := sock.handleFrame([]byte(`["1","1","echo:a","phx_join",{}]`), false); err != nil {
		b.Fatal(err)
	}
	for tr.frames.Load() < 1 { // the join reply
		runtime.Gosched()
	}
	tr.frames.Store(0)
	return sock, tr
}

// BenchmarkEchoRoundTrip: one event in, its reply out, then the next (a
// client awaiting each reply), all in process: frame decode, dispatch,
// handler, reply encode and the transport's send.
func BenchmarkEchoRoundTrip(b *testing.B) {
	sock, tr := echoSocket(b)
	frame := []byte(`["1","2","echo:a","ping",{"body":"hello"}]`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := sock.handleFrame(frame, false); err != nil {
			b.Fatal(err)
		}
		for tr.frames.Load() <= int64(i) {
			runtime.Gosched()
		}
	}
}

// BenchmarkEchoPipelined: events handed in back to back, as from one
// read of many frames; timed until every reply is out.
func BenchmarkEchoPipelined(b *testing.B) {
	sock, tr := echoSocket(b)
	frame := []byte(`["1","2","echo:a","ping",{"body":"hello"}]`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := sock.handleFrame(frame, false); err != nil {
			b.Fatal(err)
		}
	}
	for tr.frames.Load() < int64(b.N) {
		runtime.Gosched()
	}
}
