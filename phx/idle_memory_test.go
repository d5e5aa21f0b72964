package phx

import (
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"testing"
	"unsafe"

	"github.com/phxgo/phxgo/serializer"
)

// nullTransport discards what a socket writes: it holds nothing, so the
// heap an idle socket costs is phx's own.
type nullTransport struct{}

func (nullTransport) send(bool, []byte) error      { return nil }
func (nullTransport) sendReply(bool, []byte) error { return nil }
func (nullTransport) close(CloseCode, string)      {}
func (nullTransport) name() string                 { return "null" }
func (nullTransport) pauseRead()                   {}
func (nullTransport) resumeRead()                  {}

// idleSockets opens n sockets as phxd's are (a socket id, assigns with a
// user id, connect headers and params that are not kept) and joins each
// to its own room, then returns them (to keep them live).
func idleSockets(t testing.TB, srv *Server, n int) []*Socket {
	socks := make([]*Socket, n)
	addr := netip.MustParseAddrPort("127.0.0.1:4000")
	for i := range socks {
		info := &ConnectInfo{Params: NewParams("token", "abc", "vsn", "2.0.0"),
			Header: http.Header{"Origin": {"http://localhost"}, "User-Agent": {"bench"},
				"Cookie": {"a=b"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}},
			RemoteAddr: addr, Transport: "websocket", Vsn: "2.0.0"}
		s := srv.newSocket(info, serializer.V2, NewAssigns("user_id", fmt.Sprintf("u%d", i)))
		srv.opened(s, nullTransport{})
		if err := s.handleFrame(fmt.Appendf(nil, `["1","1","room:%d","phx_join",{}]`, i), false); err != nil {
			t.Fatal(err)
		}
		socks[i] = s
	}
	for _, s := range socks { // joins run inline; a slow one may be queued
		if c := s.lookup(s.firstTopic()); c == nil {
			t.Fatal("a socket lost its channel")
		} else {
			waitIdle(t, c)
		}
	}
	return socks
}

// firstTopic is the topic of one of s's channels ("" when none).
func (s *Socket) firstTopic() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if all := s.channels.all(); len(all) > 0 {
		return all[0].topic
	}
	return ""
}

// idleHeapPerSocket measures the live heap n idle joined sockets hold,
// per socket, beyond what the server held before.
func idleHeapPerSocket(t testing.TB, n int) float64 {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1,
		ID: func(s *Socket) string { return "users_socket:" + s.Assigns.String("user_id") }})
	defer func() { _ = srv.Close() }()
	srv.Channel("room:*", &whereChannel{})
	before := heapAfterGC()
	socks := idleSockets(t, srv, n)
	after := heapAfterGC()
	runtime.KeepAlive(socks)
	for _, s := range socks {
		s.closedByTransport(CloseAbnormal, "")
	}
	return float64(after-before) / float64(n)
}

// maxIdleHeapPerSocket bounds the live heap of one idle socket joined to
// one channel with a nullTransport: phx's structs (Socket, Channel, refs,
// topic), the app's assigns and user id, the socket id and the PubSub's
// two subscriptions. Measured at 645 B with compact assigns (one 32 B
// pair, not a map), the address kept as a netip.AddrPort in the Socket
// (192 B) and no ConnectInfo kept; 981 B before that (a map of assigns,
// a *net.TCPAddr, a ConnectInfo per socket), 1,390 B before the earlier
// compaction. The bound fails either old layout, and keeping a
// ConnectInfo per socket again (+112 B) fails it too.
const maxIdleHeapPerSocket = 720

// The live heap of idle joined sockets stays under its bound. Not under
// -race, whose shadow bookkeeping changes the figure.
func TestIdleHeapPerSocket(t *testing.T) {
	if raceEnabled {
		t.Skip("heap figures are not meaningful under -race")
	}
	t.Logf("sizeof Socket %d, Channel %d, ConnectInfo %d", unsafe.Sizeof(Socket{}), unsafe.Sizeof(Channel{}),
		unsafe.Sizeof(ConnectInfo{}))
	per := idleHeapPerSocket(t, 5000)
	t.Logf("%.0f B of live heap per idle joined socket", per)
	if per > maxIdleHeapPerSocket {
		t.Fatalf("%.0f B of live heap per idle joined socket, bound %d", per, maxIdleHeapPerSocket)
	}
}

// BenchmarkIdleHeap reports the live heap per idle joined socket.
func BenchmarkIdleHeap(b *testing.B) {
	for range b.N {
		b.ReportMetric(idleHeapPerSocket(b, 10000), "B/socket")
	}
}
