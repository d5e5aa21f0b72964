package phx

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/netpoll"
)

// benchJoinChannel accepts every join with no reply payload.
type benchJoinChannel struct{}

func (benchJoinChannel) Join(*Channel, Payload) (any, error)        { return nil, nil }
func (benchJoinChannel) HandleIn(*Channel, *InMessage) (any, error) { return nil, nil }

// BenchmarkConnectJoin runs phx's part of one connect+join as phxd serves
// phxbench's connect case: the upgrade decision (origin, params, vsn, the
// reconnect brake, a Connect that returns a user id, the socket id), the
// socket going live (its id topic, the join deadline) and a phx_join on a
// shared topic, with its reply. No network: the transport discards, so
// the figures are phx's own time and allocations (netpoll's are not in).
func BenchmarkConnectJoin(b *testing.B) {
	srv := NewServer(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Connect: func(_ context.Context, info *ConnectInfo) (Assigns, error) {
			id, _ := strings.CutPrefix(info.Params.Get("token"), "user:")
			return NewAssigns("user_id", strings.Clone(id)), nil
		},
		ID: func(s *Socket) string { return "users_socket:" + s.Assigns.String("user_id") }})
	defer func() { _ = srv.Close() }()
	srv.Channel("bench:*", benchJoinChannel{})
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2).To4(), Port: 40000}
	join := []byte(`["1","1","bench:connect","phx_join",{}]`)
	socks := make([]*Socket, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req := &netpoll.UpgradeRequest{RemoteAddr: addr, Host: "127.0.0.1:4000", Path: "/socket/websocket",
			RawQuery: "token=user:u" + strconv.Itoa(i) + "&vsn=2.0.0",
			Header: http.Header{"Origin": {"http://127.0.0.1:4000"}, "User-Agent": {"phxbench"},
				"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"}}}
		res := srv.handleUpgrade(req)
		h, ok := res.Handler.(*wsHandler)
		if !ok {
			b.Fatalf("upgrade refused: %+v", res)
		}
		sock := h.socket()
		srv.opened(sock, nullTransport{})
		if err := sock.handleFrame(join, false); err != nil {
			b.Fatal(err)
		}
		socks = append(socks, sock)
	}
	b.StopTimer()
	for _, s := range socks {
		s.closedByTransport(CloseAbnormal, "")
	}
}
