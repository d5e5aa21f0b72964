package phx

import (
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unique"
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
// to its own room, or all to one room when shared (as phxbench's idle
// case does), then returns them (to keep them live).
func idleSockets(t testing.TB, srv *Server, n int, shared bool) []*Socket {
	socks := make([]*Socket, n)
	addr := netip.MustParseAddrPort("127.0.0.1:4000")
	for i := range socks {
		// as handleUpgrade does: the info in a connectState, with the
		// context Connect ran under (here one that looked at Done)
		cs := &connectState{info: ConnectInfo{Params: NewParams("token", "abc", "vsn", "2.0.0"),
			Header: http.Header{"Origin": {"http://localhost"}, "User-Agent": {"bench"},
				"Cookie": {"a=b"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}},
			RemoteAddr: addr, Transport: "websocket", Vsn: "2.0.0"}}
		cs.ctx.deadline = time.Now().Add(time.Hour)
		_ = cs.ctx.Done()
		cs.ctx.end()
		s := srv.newSocket(&cs.info, serializer.V2, NewAssigns("user_id", fmt.Sprintf("u%d", i)))
		srv.opened(s, nullTransport{})
		room := i
		if shared {
			room = -1
		}
		if err := s.handleFrame(fmt.Appendf(nil, `["1","1","room:%d","phx_join",{}]`, room), false); err != nil {
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
// per socket, beyond what the server held before. keep names a header
// to keep (Config.KeepHeaders): then each socket keeps a ConnectInfo.
func idleHeapPerSocket(t testing.TB, n int, shared bool, keep ...string) float64 {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1, KeepHeaders: keep,
		ID: func(s *Socket) string { return "users_socket:" + s.Assigns.String("user_id") }})
	defer func() { _ = srv.Close() }()
	srv.Channel("room:*", &whereChannel{})
	before := heapAfterGC()
	socks := idleSockets(t, srv, n, shared)
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

// maxIdleHeapPerSocketShared is the same bound when every socket joins one
// room: no topic entry per socket in PubSub, and the channels share one
// copy of the topic string. Measured at 571 B (587 B when every channel
// held its own copy of the topic; TestJoinSharesTopic checks the sharing).
const maxIdleHeapPerSocketShared = 640

// maxIdleHeapPerSocketKept is the bound for a socket that keeps a
// ConnectInfo (one header named in KeepHeaders): its own copy of the
// ConnectInfo and the kept header map on top of maxIdleHeapPerSocket's
// figure. Measured at 1,179 B; keeping a pointer into the connect's
// connectState instead, which holds Connect's context too: 1,482 B.
const maxIdleHeapPerSocketKept = 1280

// The live heap of idle joined sockets stays under its bound. Not under
// -race, whose shadow bookkeeping changes the figure.
func TestIdleHeapPerSocket(t *testing.T) {
	if raceEnabled {
		t.Skip("heap figures are not meaningful under -race")
	}
	t.Logf("sizeof Socket %d, Channel %d, ConnectInfo %d, connectState %d", unsafe.Sizeof(Socket{}),
		unsafe.Sizeof(Channel{}), unsafe.Sizeof(ConnectInfo{}), unsafe.Sizeof(connectState{}))
	per := idleHeapPerSocket(t, 5000, false)
	t.Logf("%.0f B of live heap per idle joined socket, one room each", per)
	if per > maxIdleHeapPerSocket {
		t.Fatalf("%.0f B of live heap per idle joined socket, bound %d", per, maxIdleHeapPerSocket)
	}
	per = idleHeapPerSocket(t, 5000, true)
	t.Logf("%.0f B of live heap per idle joined socket, all in one room", per)
	if per > maxIdleHeapPerSocketShared {
		t.Fatalf("%.0f B of live heap per idle joined socket in one room, bound %d", per, maxIdleHeapPerSocketShared)
	}
	per = idleHeapPerSocket(t, 5000, false, "User-Agent")
	t.Logf("%.0f B of live heap per idle joined socket keeping a header", per)
	if per > maxIdleHeapPerSocketKept {
		t.Fatalf("%.0f B of live heap per idle joined socket keeping a header, bound %d", per, maxIdleHeapPerSocketKept)
	}
}

// BenchmarkIdleHeap reports the live heap per idle joined socket.
func BenchmarkIdleHeap(b *testing.B) {
	for range b.N {
		b.ReportMetric(idleHeapPerSocket(b, 10000, false), "B/socket")
		b.ReportMetric(idleHeapPerSocket(b, 10000, true), "B/socket-shared")
	}
}

// Channels joined on one topic share one copy of the topic string.
func TestJoinSharesTopic(t *testing.T) {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1})
	defer func() { _ = srv.Close() }()
	srv.Channel("room:*", &whereChannel{})
	held := unique.Make("room:-1") // a GC meanwhile must not make a second copy
	defer runtime.KeepAlive(held)
	socks := idleSockets(t, srv, 3, true)
	defer func() {
		for _, s := range socks {
			s.closedByTransport(CloseAbnormal, "")
		}
	}()
	a, b := socks[0].lookup("room:-1"), socks[2].lookup("room:-1")
	if a == nil || b == nil {
		t.Fatal("not joined")
	}
	if unsafe.StringData(a.topic) != unsafe.StringData(b.topic) {
		t.Fatal("two channels of one topic hold two copies of its string")
	}
}
