package presence

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/phx"
)

// benchUsers is how many clients the benchmarks connect, each over its own
// loopback WebSocket: two descriptors per user (client and server side),
// which must fit the open-file limit of the machines we run on (often
// 20,000).
const benchUsers = 5_000

// countingClient is a WebSocket client that counts what it receives.
type countingClient struct {
	conn                  net.Conn
	frames, bytes, states atomic.Int64
	done                  chan struct{}
}

// dialCounting connects user id to addr and counts its frames until close.
func dialCounting(b *testing.B, addr, id string) *countingClient {
	b.Helper()
	q := url.Values{"vsn": {"2.0.0"}, "user_id": {id}, "conn": {id}}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/socket/websocket?"+q.Encode())
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	var r io.Reader = conn
	if br != nil {
		r = io.MultiReader(br, conn)
	}
	c := &countingClient{conn: conn, done: make(chan struct{})}
	rw := struct {
		io.Reader
		io.Writer
	}{r, conn}
	go func() {
		defer close(c.done)
		for {
			p, _, err := wsutil.ReadServerData(rw)
			if err != nil {
				return
			}
			c.frames.Add(1)
			c.bytes.Add(int64(len(p)))
			if bytes.Contains(p[:min(len(p), 80)], []byte(`"presence_state"`)) {
				c.states.Add(1)
			}
		}
	}()
	return c
}

func (c *countingClient) send(b *testing.B, frame []byte) {
	if err := wsutil.WriteClientMessage(c.conn, ws.OpText, frame); err != nil {
		b.Fatal(err)
	}
}

// benchClients connects n users (u0…) to ts; closeAll disconnects them.
func benchClients(b *testing.B, ts *testServer, n int) (cs []*countingClient, closeAll func()) {
	cs = make([]*countingClient, n)
	for i := range cs {
		cs[i] = dialCounting(b, ts.addr, fmt.Sprintf("u%d", i))
	}
	return cs, func() {
		for _, c := range cs {
			_ = c.conn.Close()
			<-c.done
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sumFrames(cs []*countingClient) (frames, bytes int64) {
	for _, c := range cs {
		frames += c.frames.Load()
		bytes += c.bytes.Load()
	}
	return frames, bytes
}

// BenchmarkPresenceJoin5k: 5,000 users join one topic as fast as they
// arrive, each tracked with {"online_at": …} and sent presence_state (the
// example app's flow), with the default 50ms window. It reports the
// presence_diff frames the members received against the naive one diff
// per join (n(n+1)/2: each join's diff goes to everyone subscribed). The
// CPU time includes the clients'.
func BenchmarkPresenceJoin5k(b *testing.B) {
	b.ReportAllocs()
	var diffs, memberFrames, sentBytes, cpu int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ts, p, stop := startPresenceServer(b, phx.Config{Logger: discardLogger(), MaxChannels: 10}, Config{})
		cs, closeAll := benchClients(b, ts, benchUsers)
		join := []byte(`["1","1","room:bench","phx_join",{}]`)
		runtime.GC()
		c0 := cpuTime()
		b.StartTimer()
		for _, c := range cs {
			c.send(b, join)
		}
		waitLong(b, func() bool {
			n := int64(0)
			for _, c := range cs {
				n += c.states.Load()
			}
			return n == benchUsers // every joiner has its presence_state
		})
		p.quiet(b)
		b.StopTimer()
		cpu += int64(cpuTime() - c0)
		// The last diffs may still be on their way to the clients.
		want := int64(0)
		waitLong(b, func() bool {
			f, _ := sumFrames(cs)
			if f == want {
				return true
			}
			want = f
			time.Sleep(50 * time.Millisecond)
			return false
		})
		frames, sent := sumFrames(cs)
		diffs += p.diffs.Load()
		memberFrames += frames - 2*benchUsers // minus join replies and states
		sentBytes += sent
		closeAll()
		stop()
	}
	n := float64(b.N)
	b.ReportMetric(float64(diffs)/n, "diffs/op")
	b.ReportMetric(float64(memberFrames)/n, "diff-frames/op")
	b.ReportMetric(float64(benchUsers)*(benchUsers+1)/2, "naive-frames/op")
	b.ReportMetric(float64(cpu)/n/1e6, "cpu-ms/op")
	b.ReportMetric(float64(sentBytes)/n/1e6, "MB-sent/op")
}

// plainHandler joins anyone and tracks nothing.
type plainHandler struct{ ts *testServer }

func (h plainHandler) Join(c *phx.Channel, _ phx.Payload) (any, error) {
	h.ts.joined(c)
	return nil, nil
}

func (plainHandler) HandleIn(*phx.Channel, *phx.InMessage) (any, error) { return phx.Empty, nil }

// BenchmarkPresenceTrack5k: 5,000 channels are joined already (no
// presence); the timed part tracks all of them, one Track call each, until
// every diff is out. Naive: every track's diff to all 5,000 members (n²),
// which the window=off case actually does.
func BenchmarkPresenceTrack5k(b *testing.B) {
	b.Run("window=50ms", func(b *testing.B) { benchTrack(b, 0) })
	b.Run("window=off", func(b *testing.B) { benchTrack(b, -1) })
}

func benchTrack(b *testing.B, window time.Duration) {
	b.ReportAllocs()
	var diffs, memberFrames, cpu int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv := phx.NewServer(phx.Config{Logger: discardLogger(), JoinDeadline: -1, Connect: connectAssigns})
		ts := &testServer{Server: srv, chans: make(map[string]*phx.Channel)}
		srv.Channel("room:*", plainHandler{ts})
		addr, stopSrv := serve(b, srv)
		ts.addr = addr
		p, err := New(srv, Config{HeartbeatInterval: -1, DiffWindow: window})
		if err != nil {
			b.Fatal(err)
		}
		cs, closeAll := benchClients(b, ts, benchUsers)
		for _, c := range cs {
			c.send(b, []byte(`["1","1","room:bench","phx_join",{}]`))
		}
		chans := make([]*phx.Channel, benchUsers)
		waitLong(b, func() bool {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			for j := range cs {
				if chans[j] == nil {
					c := ts.chans[fmt.Sprintf("u%d|room:bench", j)]
					if c == nil || !c.Joined() {
						return false
					}
					chans[j] = c
				}
			}
			return true
		})
		waitLong(b, func() bool { f, _ := sumFrames(cs); return f == benchUsers }) // the join replies
		meta := map[string]any{"online_at": time.Now().UnixMilli()}
		runtime.GC()
		c0 := cpuTime()
		b.StartTimer()
		for j, c := range chans {
			if err := p.Track(c, fmt.Sprintf("u%d", j), meta); err != nil {
				b.Fatal(err)
			}
		}
		p.quiet(b)
		b.StopTimer()
		cpu += int64(cpuTime() - c0)
		want := int64(0)
		waitLong(b, func() bool {
			f, _ := sumFrames(cs)
			if f == want {
				return true
			}
			want = f
			time.Sleep(50 * time.Millisecond)
			return false
		})
		after, _ := sumFrames(cs)
		diffs += p.diffs.Load()
		memberFrames += after - benchUsers
		_ = p.Close()
		closeAll()
		stopSrv()
	}
	n := float64(b.N)
	b.ReportMetric(float64(diffs)/n, "diffs/op")
	b.ReportMetric(float64(memberFrames)/n, "diff-frames/op")
	b.ReportMetric(float64(benchUsers)*benchUsers, "naive-frames/op")
	b.ReportMetric(float64(cpu)/n/1e6, "cpu-ms/op")
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
