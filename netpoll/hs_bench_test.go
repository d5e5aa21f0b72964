package netpoll

import (
	"bytes"
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// benchHeads are the two request shapes of BenchmarkConnect: what
// phxbench's clients send, and what a browser running phoenix.js sends.
var benchHeads = []struct{ name, head string }{
	{"phxbench", "GET /socket/websocket?token=user%3A17&vsn=2.0.0 HTTP/1.1\r\n" +
		"Host: 127.0.0.1:4000\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"},
	{"browser", "GET /socket/websocket?token=user%3A17&vsn=2.0.0 HTTP/1.1\r\n" +
		"Host: localhost:4000\r\nConnection: Upgrade\r\nPragma: no-cache\r\n" +
		"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) " +
		"AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
		"Upgrade: websocket\r\nOrigin: http://localhost:4000\r\nSec-WebSocket-Version: 13\r\n" +
		"Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"},
}

// nopHandler is a Handler that does nothing.
type nopHandler struct{}

func (nopHandler) OnOpen(*Conn)                    {}
func (nopHandler) OnMessage(*Conn, OpCode, []byte) {}
func (nopHandler) OnClose(*Conn, int, string)      {}

// BenchmarkConnect is a connect storm over real loopback sockets: each
// op connects, sends an upgrade request, reads the 101 and closes (so
// the server's close path is in the figure too). The clients use raw
// blocking syscalls, so allocs/op is nearly all the server's; the
// Upgrader looks at what phx's looks at (path, Origin, query, address).
// cpu-µs/connect is the process's CPU (clients included) per connect;
// events/connect the epoll events the server's connections had.
func BenchmarkConnect(b *testing.B) {
	for _, hd := range benchHeads {
		b.Run(hd.name, func(b *testing.B) {
			var seen atomic.Int64
			up := upgraderFunc(func(r *UpgradeRequest) UpgradeResponse {
				if r.Path == "/socket/websocket" && r.Header.Get("Origin") != "x" &&
					len(r.RawQuery) > 0 && r.RemoteAddr != nil {
					seen.Add(1)
				}
				return UpgradeResponse{Handler: nopHandler{}}
			})
			s, addr := startServer(b, Config{MaxConns: 1 << 16}, up, nil)
			sa := benchSockaddr(b, addr)
			req := []byte(hd.head)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, ev0 := processCPU(), s.stats.events.Load()
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 512)
				for pb.Next() {
					if err := benchConnectOnce(sa, req, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/connect")
			b.ReportMetric(float64(s.stats.events.Load()-ev0)/float64(b.N), "events/connect")
			if seen.Load() != int64(b.N) {
				b.Fatalf("the Upgrader saw %d of %d requests as expected", seen.Load(), b.N)
			}
		})
	}
}

func benchSockaddr(b *testing.B, addr string) *unix.SockaddrInet4 {
	ap, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	sa := &unix.SockaddrInet4{Port: ap.Port}
	copy(sa.Addr[:], ap.IP.To4())
	return sa
}

// benchConnectOnce connects, upgrades and closes one blocking socket.
func benchConnectOnce(sa *unix.SockaddrInet4, req, buf []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return err
	}
	if _, err := unix.Write(fd, req); err != nil {
		return err
	}
	n := 0
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
		k, err := unix.Read(fd, buf[n:])
		if err != nil || k <= 0 {
			return &net.OpError{Op: "read", Err: err}
		}
		n += k
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101 ")) {
		return &net.OpError{Op: "upgrade " + strconv.Quote(string(buf[:n])), Err: unix.EPROTO}
	}
	return nil
}

// BenchmarkUpgradeParse is the handshake's parse alone: the fast path
// (UpgradeRequest and 101) against gobwas's, which every head took before.
func BenchmarkUpgradeParse(b *testing.B) {
	s := newTestServer(b, Config{})
	up := upgraderFunc(func(*UpgradeRequest) UpgradeResponse { return UpgradeResponse{Handler: nopHandler{}} })
	for _, hd := range benchHeads {
		head := []byte(hd.head)
		b.Run(hd.name+"/fast", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				req, key, ok := parseFastHead(head, false)
				if !ok {
					b.Fatal("not taken")
				}
				resp := s.decide(up, req)
				_ = append101(make([]byte, 0, len101(resp.Protocol)), key, resp.Protocol)
			}
		})
		b.Run(hd.name+"/gobwas", func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if r := s.gobwasUpgrade(up, nil, head); r.err != nil {
					b.Fatal(r.err)
				}
			}
		})
	}
}
