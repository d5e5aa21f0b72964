package presence

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/phxgo/phxgo/phx"
)

// BenchmarkPresenceRoom: N sockets (10,000 by default; PRESENCE_ROOM_N
// overrides) join one room:* topic with presence, as fast as the clients
// can send the joins; each joiner is tracked and sent presence_state from
// AfterJoin (the example app's flow), with the default diff window
// (PRESENCE_ROOM_WINDOW overrides it).
// The clients run in a child process (this test binary in client mode), so
// that getrusage of this process is the server's CPU alone. Timed: from the
// first join sent to the moment every joiner holds its presence_state and
// no diff waits. Reported: server CPU per join (user + system), joins per
// second (wall clock until the last state arrived) and the process's peak
// RSS (run it alone: -run '^$' -bench PresenceRoom -benchtime 1x), and
// the payload bytes the clients received per join (the protocol's: every
// joiner gets the whole room, every member every join). floor-µs/join is
// the CPU this process spends writing the same number of bytes to one
// loopback connection read by the client process, 256 KiB per write: the
// cost of the bytes alone, which no server can go below. diffs/op counts
// the presence_diff broadcasts (one per window), and client-cpu-µs/join
// is the client process's CPU (dials and reads included): on one machine
// it shares the cores with the server, which bounds joins/s.
func BenchmarkPresenceRoom(b *testing.B) {
	n := 10_000
	if s := os.Getenv("PRESENCE_ROOM_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("PRESENCE_ROOM_N=%q", s)
		}
		n = v
	}
	var pcfg Config
	if s := os.Getenv("PRESENCE_ROOM_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("PRESENCE_ROOM_WINDOW=%q", s)
		}
		pcfg.DiffWindow = d
	}
	raiseNoFile(b, uint64(n)+1024)
	var cpu, wall, floor time.Duration
	var sent, diffs int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ts, p, stop := startPresenceServer(b, phx.Config{Logger: discardLogger(), MaxChannels: 10}, pcfg)
		cl := startRoomClients(b, ts.addr, n)
		cl.await("READY")
		runtime.GC()
		c0, t0 := cpuTime(), time.Now()
		b.StartTimer()
		cl.say("GO")
		cl.await("ALL")
		wall += time.Since(t0)
		p.quiet(b)
		b.StopTimer()
		cpu += cpuTime() - c0
		cl.say("COUNT")
		cl.await("BYTES")
		var got int64
		if _, err := fmt.Sscan(cl.lines.Text()[len("BYTES"):], &got); err != nil {
			b.Fatal(err)
		}
		sent += got
		floor += writeFloor(b, cl, got)
		diffs += p.diffs.Load()
		cl.finish()
		stop()
	}
	joins := float64(n) * float64(b.N)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(cpu.Microseconds())/joins, "cpu-µs/join")
	b.ReportMetric(joins/wall.Seconds(), "joins/s")
	b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	b.ReportMetric(float64(sent)/joins/1e3, "kB-sent/join")
	b.ReportMetric(float64(floor.Microseconds())/joins, "floor-µs/join")
	b.ReportMetric(float64(diffs)/float64(b.N), "diffs/op")
	var kids syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	b.ReportMetric(float64((kids.Utime.Nano()+kids.Stime.Nano())/1e3)/joins, "client-cpu-µs/join")
}

// raiseNoFile lifts the open-file limit to at least want (the server holds
// one descriptor per client); as root the hard limit can be raised too.
func raiseNoFile(b *testing.B, want uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= want {
		return
	}
	lim.Cur = want
	lim.Max = max(lim.Max, want)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("open-file limit below %d and not raisable (%v): lower PRESENCE_ROOM_N", want, err)
	}
}

// writeFloor writes n bytes to the client process over one loopback
// connection and returns the CPU it took this process.
func writeFloor(b *testing.B, cl *roomClients, n int64) time.Duration {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cl.say("SINK " + ln.Addr().String())
	conn, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	runtime.GC()
	c0 := cpuTime()
	for left := n; left > 0; left -= int64(len(buf)) {
		if _, err := conn.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			b.Fatal(err)
		}
	}
	d := cpuTime() - c0
	_ = conn.Close()
	cl.await("SUNK")
	return d
}

// roomClients is the child process running the clients.
type roomClients struct {
	b     *testing.B
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

// roomClientEnv puts the test binary in client mode: "addr n".
const roomClientEnv = "PHXGO_PRESENCE_ROOM_CLIENT"

func startRoomClients(b *testing.B, addr string, n int) *roomClients {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", roomClientEnv, addr, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return &roomClients{b: b, cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
}

func (c *roomClients) say(line string) {
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		c.b.Fatal(err)
	}
}

func (c *roomClients) await(line string) {
	for c.lines.Scan() {
		if strings.HasPrefix(c.lines.Text(), line) {
			return
		}
	}
	c.b.Fatalf("client process ended before %q: %v", line, c.lines.Err())
}

// finish closes the clients and waits for the process.
func (c *roomClients) finish() {
	_ = c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		c.b.Fatalf("client process: %v", err)
	}
}

// runRoomClients is the client process: it dials n sockets, says READY,
// waits for GO, sends every join, says ALL once each socket holds its
// presence_state, and keeps reading until its stdin closes.
func runRoomClients(spec string) int {
	var addr string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %d", &addr, &n); err != nil {
		fmt.Fprintln(os.Stderr, "bad spec:", spec)
		return 2
	}
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(n)+1024 {
		lim.Cur = uint64(n) + 1024
		lim.Max = max(lim.Max, lim.Cur)
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	conns := make([]net.Conn, n)
	var states, received atomic.Int64
	all := make(chan struct{})
	var wg sync.WaitGroup
	var dialErr atomic.Value
	sem := make(chan struct{}, 32)
	for i := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			id := "u" + strconv.Itoa(i)
			q := url.Values{"vsn": {"2.0.0"}, "user_id": {id}, "conn": {id}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c, br, _, err := ws.Dial(ctx, "ws://"+addr+"/socket/websocket?"+q.Encode())
			if err != nil {
				dialErr.Store(err)
				return
			}
			conns[i] = c
			r := bufio.NewReaderSize(c, 4096)
			if br != nil {
				r = bufio.NewReaderSize(io.MultiReader(br, c), 4096)
			}
			go readRoom(r, &received, func() {
				if states.Add(1) == int64(n) {
					close(all)
				}
			})
		}()
	}
	wg.Wait()
	if err := dialErr.Load(); err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 1
	}
	in := bufio.NewScanner(os.Stdin)
	fmt.Println("READY")
	if !in.Scan() || in.Text() != "GO" {
		return 1
	}
	join := ws.NewTextFrame([]byte(`["1","1","room:bench","phx_join",{}]`))
	for _, c := range conns {
		frame := ws.MaskFrame(join)
		if err := ws.WriteFrame(c, frame); err != nil {
			fmt.Fprintln(os.Stderr, "join:", err)
			return 1
		}
	}
	<-all
	fmt.Println("ALL")
	for in.Scan() { // until stdin closes
		if in.Text() == "COUNT" { // the server is quiet: wait for what is in flight
			last := int64(-1)
			for cur := received.Load(); cur != last; cur = received.Load() {
				last = cur
				time.Sleep(200 * time.Millisecond)
			}
			fmt.Println("BYTES", last)
		}
		if addr, ok := strings.CutPrefix(in.Text(), "SINK "); ok {
			sink(addr)
			fmt.Println("SUNK")
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
	return 0
}

// sink reads a connection to addr until it ends.
func sink(addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sink:", err)
		return
	}
	_, _ = io.CopyBuffer(io.Discard, c, make([]byte, 256<<10))
	_ = c.Close()
}

// discardPool holds buffers that frames' payloads are read into and
// dropped.
var discardPool = sync.Pool{New: func() any { return new([64 << 10]byte) }}

var stateMark = []byte(`"presence_state"`)

// readRoom reads server frames, calling state for each presence_state,
// looking only at the head of each payload.
func readRoom(r *bufio.Reader, received *atomic.Int64, state func()) {
	var head [96]byte
	for {
		h, err := ws.ReadHeader(r)
		if err != nil {
			return
		}
		received.Add(h.Length)
		k := min(int(h.Length), len(head))
		if _, err := io.ReadFull(r, head[:k]); err != nil {
			return
		}
		if bytes.Contains(head[:k], stateMark) {
			state()
		}
		rest := h.Length - int64(k)
		if rest > 0 {
			buf := discardPool.Get().(*[64 << 10]byte)
			_, err = io.CopyBuffer(io.Discard, io.LimitReader(r, rest), buf[:])
			discardPool.Put(buf)
			if err != nil {
				return
			}
		}
		if h.OpCode == ws.OpClose {
			return
		}
	}
}

// roomClientMode runs the client process when the environment asks for
// it (from TestMain); ok is false otherwise.
func roomClientMode() (code int, ok bool) {
	spec := os.Getenv(roomClientEnv)
	if spec == "" {
		return 0, false
	}
	return runRoomClients(strings.TrimSpace(spec)), true
}
