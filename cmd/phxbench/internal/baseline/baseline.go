package baseline

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
	"golang.org/x/sys/unix"
)

// The bare-write baseline (issue 6, figure 2): what it costs to write(2)
// the same frame once to each of N loopback sockets, with nothing else
// going on. A fan-out's server CPU per delivery is reported against it. The
// reading side is a sink in a child process (phxbench -sink), so both ends
// of N sockets never share one process's file limit.

// Result is the measured bare-write cost.
type Result struct {
	Sockets        int     `json:"sockets"`
	Rounds         int     `json:"rounds"`
	FrameBytes     int     `json:"frame_bytes"`
	Writes         int64   `json:"writes"`
	CPUPerWriteUS  float64 `json:"cpu_per_write_us"`  // user+sys of the writing thread
	WallPerWriteUS float64 `json:"wall_per_write_us"` // elapsed

	// The coalesced floor: the same frames written FramesPerCall at a time
	// with writev(2) (a fractional count alternates between its floor and
	// ceiling so that the mean is exact), as a coalescing server writes
	// them; CPUPerFrameUS is the thread's CPU per frame. Absent when the
	// run gave no frames-per-writev figure.
	FramesPerCall float64 `json:"frames_per_call,omitempty"`
	CPUPerFrameUS float64 `json:"cpu_per_frame_coalesced_us,omitempty"`

	// The bytes floor of a connect run (phxbench -baseline with connect):
	// the server's writev(2) calls, each costed at CPUPerWriteUS (one
	// frame of the run's mean bytes per call), per join.
	ServerCalls  int64   `json:"server_calls,omitempty"`
	CPUPerJoinUS float64 `json:"cpu_per_join_us,omitempty"`
}

// SizedFrame is a text frame of n bytes on the wire (n ≥ 2), or, for
// the sizes no frame has (128 and 129, 65,540 to 65,545: where the length
// header grows), the largest frame shorter than n.
func SizedFrame(n int) []byte {
	hdrLen := func(p int) int {
		switch {
		case p <= 125:
			return 2
		case p <= 65535:
			return 4
		}
		return 10
	}
	p := max(n-2, 0)
	for p > 0 && hdrLen(p)+p > n {
		p--
	}
	return wire.AppendServerFrame(nil, ws.OpText, []byte(strings.Repeat("x", p)))
}

// SyntheticFrame is a broadcast frame of the fanout shape, for a baseline
// run without a captured frame.
func SyntheticFrame(topic string, bodySize int) []byte {
	body := string(wire.AppendStamp(nil, time.Now().UnixNano())) + strings.Repeat("x", max(0, bodySize))
	msg := fmt.Sprintf(`[null,null,%q,"new_msg",{"user":"b0","body":%q}]`, topic, body)
	return wire.AppendServerFrame(nil, ws.OpText, []byte(msg))
}

// Measure writes frame rounds times to each of n sockets connected to
// a sink process, and measures the writing thread's CPU; with perCall > 1
// it then writes the same frames again perCall per writev(2).
func Measure(n, rounds int, frame []byte, perCall float64, src [][4]byte) (*Result, error) {
	if err := sys.CheckNoFile(n); err != nil {
		return nil, err
	}
	sink, _, port, err := sys.StartListener("sink", "", "-sink")
	if err != nil {
		return nil, err
	}
	defer sink.Stop()
	fds, err := dialSink(n, port, src)
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := writeAll(fds, frame); err != nil { // warm-up round
		return nil, err
	}
	cpu0, t0 := threadCPU(), time.Now()
	for range rounds {
		if err := writeAll(fds, frame); err != nil {
			return nil, err
		}
	}
	cpu, wall := threadCPU()-cpu0, time.Since(t0)
	writes := int64(n) * int64(rounds)
	r := &Result{
		Sockets: n, Rounds: rounds, FrameBytes: len(frame), Writes: writes,
		CPUPerWriteUS:  cpu.Seconds() * 1e6 / float64(writes),
		WallPerWriteUS: wall.Seconds() * 1e6 / float64(writes),
	}
	if perCall > 1 {
		frames, cpu, err := writevAll(fds, frame, perCall, rounds)
		if err != nil {
			return nil, err
		}
		r.FramesPerCall = perCall
		r.CPUPerFrameUS = cpu.Seconds() * 1e6 / float64(frames)
	}
	return r, nil
}

// writevAll writes rounds frames to every fd, perCall frames per
// writev(2) on average, and returns the frames written and the thread's
// CPU.
func writevAll(fds []int, frame []byte, perCall float64, rounds int) (int64, time.Duration, error) {
	iov := make([][]byte, int(math.Ceil(perCall)))
	for i := range iov {
		iov[i] = frame
	}
	cpu0 := threadCPU()
	var frames int64
	for _, fd := range fds {
		for call, done := 0, 0; done < rounds; call++ {
			k := int(math.Floor(float64(call+1)*perCall)) - int(math.Floor(float64(call)*perCall))
			k = min(k, rounds-done, len(iov))
			want := k * len(frame)
			for w := 0; w < want; {
				m, err := unix.Writev(fd, sliceFrom(iov[:k], w))
				if err != nil {
					if errors.Is(err, unix.EINTR) {
						continue
					}
					return 0, 0, fmt.Errorf("baseline writev: %w", err)
				}
				w += m
			}
			done += k
			frames += int64(k)
		}
	}
	return frames, threadCPU() - cpu0, nil
}

// sliceFrom returns the buffers of iov from byte offset off on.
func sliceFrom(iov [][]byte, off int) [][]byte {
	for len(iov) > 0 && off >= len(iov[0]) {
		off -= len(iov[0])
		iov = iov[1:]
	}
	if off == 0 || len(iov) == 0 {
		return iov
	}
	out := append([][]byte{iov[0][off:]}, iov[1:]...)
	return out
}

// writeAll writes frame to every fd (blocking sockets).
func writeAll(fds []int, frame []byte) error {
	for _, fd := range fds {
		for b := frame; len(b) > 0; {
			k, err := unix.Write(fd, b)
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return fmt.Errorf("baseline write: %w", err)
			}
			b = b[k:]
		}
	}
	return nil
}

// threadCPU returns the calling thread's CPU time (user + system).
func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// dialSink opens n blocking connections to the sink.
func dialSink(n, port int, src [][4]byte) ([]int, error) {
	fds := make([]int, 0, n)
	for i := range n {
		fd, err := sys.SocketTo(port, src, i, false)
		if err != nil {
			return fds, fmt.Errorf("baseline %w", err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// SinkMain is the -sink mode: accept on 127.0.0.1, print the port, read and
// discard everything until stdin closes.
func SinkMain(stdin io.Reader, stdout io.Writer) int {
	ep, lfd, port, err := sys.ListenEpoll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "phxbench sink:", err)
		return 3
	}
	fmt.Fprintln(stdout, port)
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		os.Exit(0)
	}()
	sinkLoop(ep, lfd)
	return 0
}

// sinkLoop accepts and drains connections forever.
func sinkLoop(ep, lfd int) {
	events := make([]unix.EpollEvent, 512)
	buf := make([]byte, 256<<10)
	for {
		n, err := unix.EpollWait(ep, events, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == lfd {
				acceptAll(ep, lfd)
				continue
			}
			if k, err := unix.Read(fd, buf); k == 0 || (err != nil && !errors.Is(err, unix.EAGAIN)) {
				_ = unix.Close(fd)
			}
		}
	}
}

// acceptAll accepts every pending connection into the epoll set.
func acceptAll(ep, lfd int) {
	for {
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return
		}
		_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	}
}
