package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/gobwas/ws"
)

// benchConns opens n upgraded connections whose clients read and discard
// everything, counting the bytes.
func benchConns(b *testing.B, n int) ([]*Conn, *atomic.Int64) {
	b.Helper()
	rec := newRecorder(false)
	rec.opened = make(chan *Conn, n)
	_, addr := startServer(b, Config{WriteQueueBytes: 64 << 20}, acceptAll(rec), nil)
	var got atomic.Int64
	conns := make([]*Conn, 0, n)
	var wg sync.WaitGroup
	for range n {
		c := dial(b, addr)
		conns = append(conns, rec.waitOpen(b))
		wg.Go(func() {
			buf := make([]byte, 32<<10)
			for {
				k, err := c.r.Read(buf)
				got.Add(int64(k))
				if err != nil {
					return
				}
			}
		})
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.drop(CloseAbnormal, "") // unblock readers via the server side
		}
		wg.Wait()
	})
	return conns, &got
}

// throttle keeps at most window bytes in flight, so the benchmark measures
// throughput rather than queue growth.
func throttle(sent int64, got *atomic.Int64, window int64) {
	for sent-got.Load() > window {
		runtime.Gosched()
	}
}

func BenchmarkSendFlush(b *testing.B) {
	for _, size := range []int{128, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			conns, got := benchConns(b, 1)
			c := conns[0]
			payload := bytes.Repeat([]byte("x"), size)
			per := int64(frameLen(size))
			b.ReportAllocs()
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := range b.N {
				if err := c.Send(OpText, payload); err != nil {
					b.Fatal(err)
				}
				throttle(int64(i+1)*per, got, 4<<20)
			}
			throttle(0, got, -int64(b.N)*per) // wait for everything
		})
	}
}

func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) {
			conns, got := benchConns(b, n)
			payload := bytes.Repeat([]byte("y"), 256)
			per := int64(frameLen(len(payload)) * n)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for _, c := range conns {
					if err := c.Send(OpText, payload); err != nil {
						b.Fatal(err)
					}
				}
				throttle(int64(i+1)*per, got, 16<<20)
			}
			throttle(0, got, -int64(b.N)*per)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/send")
		})
	}
}

// BenchmarkEcho measures a full round trip over real loopback sockets:
// read, parse, OnMessage, Send, flush. The client runs in this process
// too; cpu-µs/echo is the whole process's CPU time (getrusage: user +
// system, client included) per round trip, which counts the hops and
// wake-ups the wall-clock time can hide on an idle core.
func BenchmarkEcho(b *testing.B) {
	rec := newRecorder(true)
	rec.msgs = make(chan message) // unbuffered: recorder drops instead of storing
	_, addr := startServer(b, Config{}, acceptAll(rec), nil)
	c := dial(b, addr)
	msg := frame(ws.OpText, true, bytes.Repeat([]byte("z"), 64))
	buf := make([]byte, 66)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		c.write(msg)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/1e3/float64(b.N), "cpu-µs/echo")
}

// processCPU is the process's user + system CPU time so far, in ns.
func processCPU() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
