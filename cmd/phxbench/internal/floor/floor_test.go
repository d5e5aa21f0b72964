package floor

import (
	"os"
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
	// 20 sockets, one request each every 100 ms for 500 ms: 100 requests.
	if r.Echoes != 100 || r.Skipped != 0 || r.CPUS <= 0 || r.CPUPerEchoUS <= 0 || r.P50US <= 0 || r.P99US < r.P50US {
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
