package netpoll

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// The numbers behind TLS.md: what an idle socket costs and the CPU of one
// echo, for plain WebSocket, TLS on the loop's record layer, and the
// alternative, a goroutine-per-connection crypto/tls bridge feeding the
// loop through a socketpair. Run with -benchtime=1x for the idle ones.

// startBridge serves wss the goroutine way: crypto/tls on two goroutines
// per connection (one copying each way), plaintext to the loop.
func startBridge(b testing.TB, up Upgrader) string {
	b.Helper()
	s, ln := listenServer(b, Config{})
	bl := newShim(ln.Addr()) // the loop Serves the plaintext ends of the socketpairs
	var wg sync.WaitGroup
	served := make(chan error, 1)
	go func() { served <- s.Serve(bl, up, nil) }()
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { bridge(nc, bl, &wg) })
		}
	})
	b.Cleanup(func() {
		_ = ln.Close()
		_ = s.Close()
		<-served
		wg.Wait()
	})
	return ln.Addr().String()
}

func bridge(nc net.Conn, bl *shimListener, wg *sync.WaitGroup) {
	tc := tls.Server(nc, serverTLSConfig())
	if tc.Handshake() != nil {
		_ = nc.Close()
		return
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		_ = nc.Close()
		return
	}
	f0, f1 := os.NewFile(uintptr(fds[0]), "loop"), os.NewFile(uintptr(fds[1]), "bridge")
	loopEnd, _ := net.FileConn(f0)
	ours, _ := net.FileConn(f1)
	_ = f0.Close()
	_ = f1.Close()
	if !bl.deliver(loopEnd) {
		_ = loopEnd.Close()
		_ = ours.Close()
		_ = nc.Close()
		return
	}
	wg.Go(func() {
		_, _ = io.CopyBuffer(ours, tc, make([]byte, 4096))
		_ = ours.Close()
	})
	_, _ = io.CopyBuffer(tc, ours, make([]byte, 4096))
	_ = tc.Close()
}

// tlsWS dials a wss client: the WebSocket handshake over crypto/tls.
func tlsWS(b testing.TB, addr string) *client {
	b.Helper()
	return dialWith(b, ws.Dialer{TLSConfig: clientTLSConfig()}, "wss://"+addr+"/socket")
}

// variants are the three servers compared, each returning its address.
var tlsVariants = []struct {
	name  string
	start func(testing.TB, Upgrader) string
	dial  func(testing.TB, string) *client
}{
	{"plain", func(b testing.TB, up Upgrader) string { _, a := startServer(b, Config{}, up, nil); return a }, func(b testing.TB, a string) *client { return dial(b, a) }},
	{"tls-loop", func(b testing.TB, up Upgrader) string { _, a := startTLSServer(b, Config{}, up, nil); return a }, tlsWS},
	{"tls-bridge", startBridge, tlsWS},
}

// memInUse is the heap and stack memory in use after a full GC.
func memInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// BenchmarkTLSIdleConn reports the Go memory (heap and stacks, client
// and server: the clients are the same in every variant) per idle
// upgraded connection, after one echo each.
func BenchmarkTLSIdleConn(b *testing.B) {
	const n = 500
	for _, v := range tlsVariants {
		b.Run(v.name, func(b *testing.B) {
			rec := newRecorder(true)
			rec.opened = make(chan *Conn, n)
			addr := v.start(b, acceptAll(rec))
			before := memInUse()
			raws := make([]net.Conn, n)
			for i := range raws {
				raws[i] = idleClient(b, addr, v.name != "plain")
			}
			b.Cleanup(func() {
				for _, r := range raws {
					_ = r.Close()
				}
			})
			time.Sleep(100 * time.Millisecond)
			after := memInUse()
			b.ReportMetric(float64(after-before)/n, "B/conn")
			for range b.N {
			}
		})
	}
}

// idleClient connects, echoes one message, and keeps only the TCP
// connection (its crypto/tls state is dropped), so that the clients cost
// the same in every variant and the differences are the server's.
func idleClient(b testing.TB, addr string, useTLS bool) net.Conn {
	b.Helper()
	d, url := ws.Dialer{Timeout: testWait}, "ws://"+addr+"/socket"
	if useTLS {
		d.TLSConfig, url = clientTLSConfig(), "wss://"+addr+"/socket"
	}
	conn, br, _, err := d.Dial(b.(interface{ Context() context.Context }).Context(), url)
	if err != nil {
		b.Fatal(err)
	}
	c := &client{t: b, conn: conn, r: conn}
	if br != nil {
		c.r = br
	}
	c.send(ws.OpText, []byte("hi"))
	c.expectFrame(ws.OpText)
	if tc, ok := conn.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return conn
}

// BenchmarkTLSEcho reports the process CPU (client and server, user and
// system) per echo of a 1 KiB text message, 16 connections at once.
func BenchmarkTLSEcho(b *testing.B) {
	const conns = 16
	msg := bytes.Repeat([]byte("x"), 1024)
	for _, v := range tlsVariants {
		b.Run(v.name, func(b *testing.B) {
			rec := newRecorder(true)
			rec.msgs = make(chan message) // unbuffered: the recorder skips it
			addr := v.start(b, acceptAll(rec))
			clients := make([]*client, conns)
			for i := range clients {
				clients[i] = v.dial(b, addr)
			}
			cpu0 := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for i, c := range clients {
				count := b.N / conns
				if i < b.N%conns {
					count++
				}
				wg.Go(func() {
					f := frame(ws.OpText, true, msg)
					for range count {
						if _, err := c.conn.Write(f); err != nil {
							return
						}
						if _, _, err := c.readFrame(); err != nil {
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/echo")
		})
	}
}

func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
