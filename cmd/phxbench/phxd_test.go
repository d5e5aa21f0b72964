package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/phxdtest"
)

// phxbench against a real phxd (built from ./cmd/phxd by the test): tiny
// echo, connect, slow-handler and presence runs, whose reports must add up.
// The figures themselves are not asserted (they belong to the suite); the
// counts and the presence of each cost figure are. phxd's CPU is read from
// /proc in clock ticks (10 ms), so each run gives it at least a few ticks
// of work.

// startRealPhxd runs phxd on a free loopback port and returns its
// WebSocket URL and pid; it is stopped when the test ends.
func startRealPhxd(t *testing.T) (string, int) {
	t.Helper()
	addr, pid := phxdtest.Start(t, phxdtest.Build(t))
	return "ws://" + addr + "/socket/websocket", pid
}

// runAgainst runs phxbench with args against url, sampling pid, and
// returns its JSON result.
func runAgainst(t *testing.T, url string, pid int, args ...string) *engine.Result {
	t.Helper()
	out := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr strings.Builder
	args = append(args, "-url", url, "-pid", strconv.Itoa(pid), "-out", out, "-progress", "off")
	if code := run(args, nil, &stdout, &stderr); code != engine.ExitOK {
		t.Fatalf("phxbench %v: exit %d\n%s%s", args, code, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "floor:") || strings.Contains(stderr.String(), "baseline:") {
		t.Errorf("stderr: %s", stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r engine.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 0 || !r.OK {
		t.Errorf("errors %v, ok %v", r.Errors, r.OK)
	}
	if r.Server == nil || r.Server.CPUS <= 0 {
		t.Fatalf("no server CPU figure: %+v", r.Server)
	}
	return &r
}

func TestRealPhxdEchoWithFloor(t *testing.T) {
	url, pid := startRealPhxd(t)
	r := runAgainst(t, url, pid, "-scenario", "echo", "-n", "100", "-rate", "400", "-d", "2s", "-floor", "-floor-d", "1s")
	c := r.Counters
	if c.Clients != 100 || c.Joined != 100 || c.PushesSent < 600 || c.Replies != c.PushesSent || c.Timeouts != 0 {
		t.Errorf("counters: %+v", c)
	}
	if r.Server.CPUPerPushUS <= 0 {
		t.Errorf("no CPU per echo: %+v", r.Server)
	}
	if r.Latency["push:echo"].Count != uint64(c.Replies) {
		t.Errorf("push:echo histogram holds %d of %d replies", r.Latency["push:echo"].Count, c.Replies)
	}
	if r.Floor == nil || r.Floor.Echo == nil {
		t.Fatal("no echo floor")
	}
	e := r.Floor.Echo
	if e.Sockets != 100 || e.Echoes < 300 || e.CPUPerEchoUS <= 0 || e.P50US <= 0 || e.ReqBytes < 50 || e.RespBytes <= e.ReqBytes-6 {
		t.Errorf("echo floor: %+v", e)
	}
	// phxd again, measured by the floor's client: joined, every push
	// answered with the reply the floor's bare server imitates.
	sv := r.Floor.Server
	if sv == nil {
		t.Fatal("no floor-client run against phxd")
	}
	if sv.Sockets != 100 || sv.Echoes < 300 || sv.CPUPerEchoUS <= 0 || sv.P50US <= 0 ||
		sv.ReqBytes != e.ReqBytes || sv.RespBytes != e.RespBytes {
		t.Errorf("phxd with the floor's client: %+v", sv)
	}
}

func TestRealPhxdConnectWithFloor(t *testing.T) {
	url, pid := startRealPhxd(t)
	r := runAgainst(t, url, pid, "-scenario", "connect", "-n", "600", "-floor")
	c := r.Counters
	if c.Clients != 600 || c.Connected != 600 || c.Joined != 600 || c.ConnectFailed != 0 {
		t.Errorf("counters: %+v", c)
	}
	if r.Server.CPUPerConnectJoinUS <= 0 {
		t.Errorf("no CPU per connect+join: %+v", r.Server)
	}
	if r.Floor == nil || r.Floor.Connect == nil {
		t.Fatal("no connect floor")
	}
	f := r.Floor.Connect
	if f.Joined != 600 || f.CPUPerConnectUS <= 0 || f.Sizes.Switching != 129 {
		t.Errorf("connect floor: %+v", f)
	}
}

func TestRealPhxdSlowHandler(t *testing.T) {
	url, pid := startRealPhxd(t)
	r := runAgainst(t, url, pid, "-scenario", "slow", "-n", "100", "-rate", "400", "-d", "1500ms")
	c := r.Counters
	block, echo := r.Latency["push:block"], r.Latency["push:echo"]
	if c.Joined != 101 || c.Replies != c.PushesSent || block.Count < 1 || echo.Count < 400 {
		t.Errorf("counters %+v, block %+v, echo %+v", c, block, echo)
	}
	if block.P50 < 900_000 { // µs: the handler sleeps 1 s
		t.Errorf("block replied after %v µs, want about 1 s", block.P50)
	}
}

func TestRealPhxdPresenceRoom(t *testing.T) {
	url, pid := startRealPhxd(t)
	metrics := strings.Replace(strings.Replace(url, "ws://", "http://", 1), "/socket/websocket", "/metrics", 1)
	r := runAgainst(t, url, pid, "-scenario", "connect", "-n", "400", "-topic", "room:bench", "-procs", "2",
		"-baseline", "-metrics", metrics)
	c := r.Counters
	// Each joiner gets its join reply and a presence_state at least.
	if c.Joined != 400 || c.FramesIn < 800 || c.BytesIn <= 0 || r.Server.RSSPeak <= 0 {
		t.Errorf("counters %+v, rss peak %d", c, r.Server.RSSPeak)
	}
	// The bytes floor: phxd's writev calls (at least one per frame it
	// sent whole), one frame of the mean size per call to 400 sockets.
	b := r.Baseline
	if b == nil {
		t.Fatal("no bytes floor")
	}
	if b.Sockets != 400 || b.Rounds != 1 || b.ServerCalls < c.FramesIn/2 || b.CPUPerJoinUS <= 0 ||
		b.FrameBytes < int(c.BytesIn/b.ServerCalls)-6 || b.FrameBytes > int(c.BytesIn/b.ServerCalls)+1 {
		t.Errorf("bytes floor %+v for %d bytes, %d frames", b, c.BytesIn, c.FramesIn)
	}
	if want := b.CPUPerWriteUS * float64(b.ServerCalls) / float64(c.Joined); math.Abs(b.CPUPerJoinUS-want) > 1e-9*want {
		t.Errorf("floor per join %v, want %v (CPU per write × calls ÷ joins)", b.CPUPerJoinUS, want)
	}
	// Against the same phxd again: the calls are this run's, not the
	// server's since it started.
	r2 := runAgainst(t, url, pid, "-scenario", "connect", "-n", "400", "-topic", "room:bench", "-procs", "2",
		"-baseline", "-metrics", metrics)
	if b2 := r2.Baseline; b2 == nil || b2.ServerCalls > b.ServerCalls*3/2 || b2.ServerCalls < b.ServerCalls/2 {
		t.Errorf("second run's calls %+v, first run's %d", b2, b.ServerCalls)
	}
}

// -baseline with connect needs the server's writev count.
func TestBytesFloorNeedsMetrics(t *testing.T) {
	url, pid := startRealPhxd(t)
	var stdout, stderr strings.Builder
	args := []string{"-scenario", "connect", "-n", "20", "-baseline", "-url", url, "-pid", strconv.Itoa(pid), "-progress", "off"}
	run(args, nil, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "-baseline with connect needs -metrics") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

// -compress against phxd -compress: every socket agrees permessage-deflate
// and the presence traffic arrives several times smaller than it inflates.
func TestRealPhxdCompress(t *testing.T) {
	addr, pid := phxdtest.Start(t, phxdtest.Build(t), "-compress")
	r := runAgainst(t, "ws://"+addr+"/socket/websocket", pid, "-scenario", "connect", "-n", "300", "-topic", "room:bench", "-procs", "2", "-compress")
	x := r.Compression
	if r.Counters.Joined != 300 || x == nil {
		t.Fatalf("joined %d, compression %+v", r.Counters.Joined, x)
	}
	if x.Mode != "deflate" || x.Negotiated != 300 || x.Messages == 0 || x.BytesWire != r.Counters.BytesIn || x.BytesPlain < 3*x.BytesWire {
		t.Errorf("compression %+v", x)
	}
}

// -compress against a phxd without it: nothing is agreed, the clients go on
// uncompressed and the result says so.
func TestRealPhxdCompressDeclined(t *testing.T) {
	url, pid := startRealPhxd(t)
	r := runAgainst(t, url, pid, "-scenario", "connect", "-n", "200", "-topic", "room:bench", "-compress")
	x := r.Compression
	if r.Counters.Joined != 200 || x == nil {
		t.Fatalf("joined %d, compression %+v", r.Counters.Joined, x)
	}
	if x.Mode != "plain" || x.Offered != 200 || x.Negotiated != 0 || x.Messages != 0 || x.BytesPlain != x.BytesWire {
		t.Errorf("compression %+v", x)
	}
	// Without -compress the result has no compression block at all.
	if r := runAgainst(t, url, pid, "-scenario", "connect", "-n", "300", "-topic", "room:other"); r.Compression != nil {
		t.Errorf("compression %+v without -compress", r.Compression)
	}
}
