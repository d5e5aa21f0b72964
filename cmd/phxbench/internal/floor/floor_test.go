package floor

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain lets the test binary act as the -floor-server child, and fails
// the package when goroutines outlive the tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-floor-server" {
		os.Exit(ServerMain(os.Args[2:], os.Stdin, os.Stdout))
	}
	goleak.VerifyTestMain(m)
}

func TestEchoFloor(t *testing.T) {
	r, err := MeasureEcho(EchoOptions{N: 20, Rate: 200, D: 500 * time.Millisecond, Req: 59, Resp: 87, WarmupWait: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 20 sockets, one request each every 100 ms for 500 ms: 100 requests,
	// a few of which a loaded machine may skip (the socket's previous one
	// still out: a matter of timing, which no test asserts).
	if r.Echoes+r.Skipped != 100 || r.Echoes < 50 || r.CPUS <= 0 || r.CPUPerEchoUS <= 0 || r.P50US <= 0 || r.P99US < r.P50US {
		t.Errorf("%+v", r)
	}
}

func TestConnectFloor(t *testing.T) {
	r, err := MeasureConnect(ConnectOptions{N: 300, Inflight: 16, Sizes: ConnectSizes{Upgrade: 199, Switching: 129, Join: 45, JoinReply: 69}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Joined != 300 || r.CPUS <= 0 || r.CPUPerConnectUS <= 0 || r.JoinsPerS <= 0 {
		t.Errorf("%+v", r)
	}
}

func TestConnectFloorRate(t *testing.T) {
	start := time.Now()
	r, err := MeasureConnect(ConnectOptions{N: 50, Rate: 200, Sizes: ConnectSizes{Upgrade: 10, Switching: 10, Join: 10, JoinReply: 10}})
	if err != nil {
		t.Fatal(err)
	}
	// 50 connects at 200/s take at least 245 ms.
	if r.Joined != 50 || time.Since(start) < 240*time.Millisecond {
		t.Errorf("%+v after %v", r, time.Since(start))
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := MeasureEcho(EchoOptions{N: 1, Rate: 1, D: time.Second, Req: 0, Resp: 1}); err == nil {
		t.Error("echo: zero request size accepted")
	}
	if _, err := MeasureConnect(ConnectOptions{N: 1}); err == nil {
		t.Error("connect: zero sizes accepted")
	}
	bad := &Target{Port: 1, Req: []byte("ab"), Setup: func(int) error { return nil }, CPU: func() (float64, error) { return 0, nil }}
	if _, err := MeasureEcho(EchoOptions{N: 1, Rate: 1, D: time.Second, Req: 3, Resp: 1, Target: bad}); err == nil {
		t.Error("echo: a target request of the wrong size accepted")
	}
	for _, args := range [][]string{{}, {"echo"}, {"echo", "0"}, {"echo", "1", "2"}, {"connect", "1"}, {"nope", "1"}, {"echo", "1048577"}} {
		if _, err := parseServerArgs(args); err == nil {
			t.Errorf("server args %q accepted", args)
		}
	}
	if r, err := parseServerArgs([]string{"connect", "129", "69"}); err != nil || len(r) != 3 || r[2] != 0 {
		t.Errorf("connect 129 69: %v %v", r, err)
	}
}

// echoServer answers every read on every connection with answer bytes, or
// closes the connection after its first read when answer is 0.
func echoServer(t *testing.T, answer int) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil || answer == 0 {
						return
					}
					if _, err := c.Write(make([]byte, answer)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// A server whose replies are not the expected size, or that closes its
// sockets, fails the measurement instead of skewing it.
func TestEchoTargetFaults(t *testing.T) {
	for _, c := range []struct {
		answer int
		want   string
	}{{90, "part of a reply"}, {0, "closed by the server"}} {
		port := echoServer(t, c.answer)
		tg := &Target{Port: port, Req: make([]byte, 59), Setup: func(int) error { return nil },
			CPU: func() (float64, error) { return 1, nil }}
		_, err := MeasureEcho(EchoOptions{N: 5, Rate: 50, D: 300 * time.Millisecond, Req: 59, Resp: 87,
			WarmupWait: 10 * time.Millisecond, Target: tg})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("answer %d: err = %v, want %q", c.answer, err, c.want)
		}
	}
	// The right size passes.
	port := echoServer(t, 87)
	tg := &Target{Port: port, Req: make([]byte, 59), Setup: func(int) error { return nil },
		CPU: func() (float64, error) { return 1, nil }}
	r, err := MeasureEcho(EchoOptions{N: 5, Rate: 50, D: 300 * time.Millisecond, Req: 59, Resp: 87,
		WarmupWait: 10 * time.Millisecond, Target: tg})
	if err != nil || r.Echoes+r.Skipped != 15 || r.Echoes == 0 {
		t.Errorf("%+v %v", r, err)
	}
}
