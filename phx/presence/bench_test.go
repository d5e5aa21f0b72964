package phx

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// countingTransport counts what a socket writes and drops it.
type countingTransport struct {
	frames, bytes, states atomic.Int64
}

func (c *countingTransport) sendReply(b bool, p []byte) error { return c.send(b, p) }

func (c *countingTransport) send(_ bool, p []byte) error {
	c.frames.Add(1)
	c.bytes.Add(int64(len(p)))
	if bytes.Contains(p[:min(len(p), 80)], []byte(`"presence_state"`)) {
		c.states.Add(1)
	}
	return nil
}
func (c *countingTransport) close(int, string) {}
func (c *countingTransport) name() string      { return "count" }
func (c *countingTransport) pauseRead()        {}
func (c *countingTransport) resumeRead()       {}

// benchSockets opens n sockets (users u0…) with counting transports.
func benchSockets(srv *Server, n int) ([]*Socket, []*countingTransport) {
	socks, trs := make([]*Socket, n), make([]*countingTransport, n)
	info := &ConnectInfo{Params: Params{}, RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}}
	for i := range socks {
		socks[i] = srv.newSocket(info, serializer.V2, Assigns{"user_id": fmt.Sprintf("u%d", i)})
		trs[i] = &countingTransport{}
		srv.opened(socks[i], trs[i])
	}
	return socks, trs
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sumFrames(trs []*countingTransport) (frames, bytes int64) {
	for _, tr := range trs {
		frames += tr.frames.Load()
		bytes += tr.bytes.Load()
	}
	return frames, bytes
}

const benchUsers = 10_000

// BenchmarkPresenceJoin10k: 10,000 users join one topic as fast as they
// arrive, each tracked with {"online_at": …} and sent presence_state (the
// example app's flow), with the default 50ms window. It reports the
// presence_diff frames the members received against the naive one diff
// per join (n(n+1)/2: each join's diff goes to everyone subscribed).
func BenchmarkPresenceJoin10k(b *testing.B) {
	b.ReportAllocs()
	var diffs, memberFrames, sentBytes, cpu int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv, p := newPresenceServer(b, Config{Logger: discardLogger()}, PresenceConfig{})
		socks, trs := benchSockets(srv, benchUsers)
		join := []byte(`["1","1","room:bench","phx_join",{}]`)
		runtime.GC()
		c0 := cpuTime()
		b.StartTimer()
		for _, s := range socks {
			if err := s.handleFrame(join, false); err != nil {
				b.Fatal(err)
			}
		}
		waitLong(b, func() bool {
			n := int64(0)
			for _, tr := range trs {
				n += tr.states.Load()
			}
			return n == benchUsers // every joiner has its presence_state
		})
		p.quiet(b)
		b.StopTimer()
		cpu += int64(cpuTime() - c0)
		frames, sent := sumFrames(trs)
		diffs += p.diffs.Load()
		memberFrames += frames - 2*benchUsers // minus join replies and states
		sentBytes += sent
	}
	n := float64(b.N)
	b.ReportMetric(float64(diffs)/n, "diffs/op")
	b.ReportMetric(float64(memberFrames)/n, "diff-frames/op")
	b.ReportMetric(float64(benchUsers)*(benchUsers+1)/2, "naive-frames/op")
	b.ReportMetric(float64(cpu)/n/1e6, "cpu-ms/op")
	b.ReportMetric(float64(sentBytes)/n/1e6, "MB-sent/op")
}

// BenchmarkPresenceTrack10k: 10,000 channels are joined already (no
// presence); the timed part tracks all of them, one Track call each, until
// every diff is out. Naive: every track's diff to all 10,000 members (n²),
// which the window=off case actually does.
func BenchmarkPresenceTrack10k(b *testing.B) {
	b.Run("window=50ms", func(b *testing.B) { benchTrack(b, 0) })
	b.Run("window=off", func(b *testing.B) { benchTrack(b, -1) })
}

func benchTrack(b *testing.B, window time.Duration) {
	b.ReportAllocs()
	var diffs, memberFrames, cpu int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv := NewServer(Config{Logger: discardLogger(), JoinDeadline: -1})
		srv.Channel("room:*", &testChannel{})
		p, err := NewPresence(srv, PresenceConfig{HeartbeatInterval: -1, DiffWindow: window})
		if err != nil {
			b.Fatal(err)
		}
		socks, trs := benchSockets(srv, benchUsers)
		for _, s := range socks {
			_ = s.handleFrame([]byte(`["1","1","room:bench","phx_join",{}]`), false)
		}
		chans := make([]*Channel, benchUsers)
		waitLong(b, func() bool {
			for j, s := range socks {
				if chans[j] == nil {
					if c := s.lookup("room:bench"); c != nil && c.Joined() {
						chans[j] = c
					} else {
						return false
					}
				}
			}
			return true
		})
		before, _ := sumFrames(trs)
		meta := map[string]any{"online_at": time.Now().UnixMilli()}
		runtime.GC()
		c0 := cpuTime()
		b.StartTimer()
		for j, c := range chans {
			if err := p.Track(c, socks[j].Assigns.String("user_id"), meta); err != nil {
				b.Fatal(err)
			}
		}
		p.quiet(b)
		b.StopTimer()
		cpu += int64(cpuTime() - c0)
		after, _ := sumFrames(trs)
		diffs += p.diffs.Load()
		memberFrames += after - before
		_ = p.Close()
		_ = srv.Close()
	}
	n := float64(b.N)
	b.ReportMetric(float64(diffs)/n, "diffs/op")
	b.ReportMetric(float64(memberFrames)/n, "diff-frames/op")
	b.ReportMetric(float64(benchUsers)*benchUsers, "naive-frames/op")
	b.ReportMetric(float64(cpu)/n/1e6, "cpu-ms/op")
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
