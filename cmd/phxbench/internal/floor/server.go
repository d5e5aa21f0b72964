package floor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"unsafe"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
	"golang.org/x/sys/unix"
)

// The bare server (phxbench -floor-server MODE SIZES…). Level-triggered
// epoll over non-blocking sockets, one read(2) per readiness and one
// write(2) per answer:
//
//	echo R            every read is answered by a write of R bytes
//	connect R1 R2     accept4 + epoll_ctl; the first read (the upgrade
//	                  request) is answered by R1 bytes (a 101 response), the
//	                  second (the join) by R2 bytes (the join reply); later
//	                  reads are discarded
//
// It prints its port, then answers each line on stdin with its own CPU
// seconds (getrusage, user + system), and exits when stdin closes.

// ServerMain is the -floor-server mode.
func ServerMain(args []string, stdin io.Reader, stdout io.Writer) int {
	resp, err := parseServerArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "phxbench -floor-server:", err)
		return 2
	}
	ep, lfd, port, err := sys.ListenEpoll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "phxbench -floor-server:", err)
		return 3
	}
	fmt.Fprintln(stdout, port)
	go func() {
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			fmt.Fprintf(stdout, "%.9f\n", ownCPU())
		}
		os.Exit(0)
	}()
	serve(ep, lfd, resp)
	return 0
}

// parseServerArgs returns the answer sizes: one per read, in order (the
// last repeats for echo, is not used again for connect).
func parseServerArgs(args []string) (resp []int, err error) {
	if len(args) < 2 {
		return nil, errors.New("want echo R or connect R1 R2")
	}
	for _, a := range args[1:] {
		v, err := strconv.Atoi(a)
		if err != nil || v < 1 || v > 1<<20 {
			return nil, fmt.Errorf("bad size %q", a)
		}
		resp = append(resp, v)
	}
	switch {
	case args[0] == "echo" && len(resp) == 1:
		return resp, nil
	case args[0] == "connect" && len(resp) == 2:
		return append(resp, 0), nil // 0: discard later reads
	}
	return nil, fmt.Errorf("want echo R or connect R1 R2, got %q", args)
}

// serve runs the loop forever. state[fd] counts the reads answered so far.
// The loop's system calls are raw (no scheduler hand-off around them, the
// goroutine keeps its thread), so that the figure is the kernel's work and
// not the Go runtime's; epoll_wait returns every 50 ms so that a
// stop-the-world pause (the stdin goroutine allocates a little) never
// waits long for this thread.
func serve(ep, lfd int, resp []int) {
	runtime.LockOSThread()
	echo := len(resp) == 1
	size := 0
	for _, r := range resp {
		size = max(size, r)
	}
	out := make([]byte, size)
	for i := range out {
		out[i] = 'x'
	}
	buf := make([]byte, 64<<10)
	var state []uint8
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := rawEpollWait(ep, events, 50)
		if err != 0 && err != unix.EINTR {
			return
		}
		for _, ev := range events[:max(n, 0)] {
			fd := int(ev.Fd)
			if fd == lfd {
				for {
					c, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					for len(state) <= c {
						state = append(state, 0)
					}
					state[c] = 0
					_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c)})
				}
				continue
			}
			k, err := rawRW(unix.SYS_READ, fd, buf)
			if k == 0 || err != 0 && err != unix.EAGAIN {
				_ = unix.Close(fd)
				continue
			}
			if k < 0 || err != 0 {
				continue
			}
			r := resp[0]
			if !echo {
				r = resp[min(int(state[fd]), 2)]
				if state[fd] < 2 {
					state[fd]++
				}
			}
			if r > 0 {
				_, _ = rawRW(unix.SYS_WRITE, fd, out[:r])
			}
		}
	}
}

// rawEpollWait is epoll_wait(2) without the runtime's syscall bookkeeping.
func rawEpollWait(ep int, events []unix.EpollEvent, msec int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), uintptr(msec), 0, 0)
	return int(r), e
}

// rawRW is read(2) or write(2) without the runtime's syscall bookkeeping.
func rawRW(trap uintptr, fd int, b []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(r), e
}

// ownCPU is this process's user + system CPU seconds.
func ownCPU() float64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return tv(ru.Utime) + tv(ru.Stime)
}

func tv(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
