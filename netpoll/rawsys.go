package netpoll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's hot system calls (read, writev in write.go, accept4 in
// hs_accept.go, epoll_wait, epoll_ctl, the eventfd write) go straight to
// the kernel, without the Go runtime's syscall bookkeeping
// (entersyscall/exitsyscall): every one of them is on a non-blocking fd,
// or epoll_wait with a zero timeout, so none blocks and the runtime never
// needs to hand the P to another thread meanwhile. With the bookkeeping,
// the first system call after the process was idle wakes the runtime's
// sysmon thread from its deep sleep (entersyscall does that when all Ps
// were idle), which then sleeps 20 µs, finds the Ps idle again and goes
// back to its deep sleep: a futex wake, a nanosleep and two thread
// switches for every request that finds the server idle (measured: 1
// futex and 1 nanosleep per echo at 2,000 echoes/s, about 15 µs of CPU
// each). And a long writev lets sysmon hand its P to another thread. The
// bare server of phxbench's syscall floor makes its calls the same way.
// Raw calls never give the P up, so the workers yield it themselves when
// the run queue is long (worker.loop).

func rawRead(fd int, p []byte) (int, error)  { return rawRW(unix.SYS_READ, fd, p) }
func rawWrite(fd int, p []byte) (int, error) { return rawRW(unix.SYS_WRITE, fd, p) }

// rawRW is read(2) or write(2) (trap) of p on fd.
func rawRW(trap uintptr, fd int, p []byte) (int, error) {
	var b unsafe.Pointer
	if len(p) > 0 {
		b = unsafe.Pointer(&p[0])
	}
	r, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(b), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// rawEpollPoll is epoll_pwait(2) with a zero timeout: it never blocks.
func rawEpollPoll(ep int, evs []unix.EpollEvent) int {
	if len(evs) == 0 {
		return 0
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep),
		uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(r)
}

// rawEpollCtl is epoll_ctl(2), which never blocks.
func rawEpollCtl(ep, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd),
		uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}
