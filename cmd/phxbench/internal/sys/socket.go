package sys

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// ListenEpoll is the start of a bare loopback server (the -sink and
// -floor-server children): it raises the open-files limit, listens on
// 127.0.0.1 on a free port (non-blocking), and returns an epoll set
// holding the listener, the listener and its port.
func ListenEpoll() (ep, lfd, port int, err error) {
	RaiseNoFile()
	if lfd, port, err = listenLoopback(); err != nil {
		return 0, 0, 0, err
	}
	if ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		_ = unix.Close(lfd)
		return 0, 0, 0, err
	}
	_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)})
	return ep, lfd, port, nil
}

// listenLoopback listens on 127.0.0.1 on a free port (non-blocking).
func listenLoopback() (fd, port int, err error) {
	fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err = unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		_ = unix.Close(fd)
		return 0, 0, err
	}
	if err = unix.Listen(fd, 4096); err != nil {
		_ = unix.Close(fd)
		return 0, 0, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		_ = unix.Close(fd)
		return 0, 0, err
	}
	return fd, sa.(*unix.SockaddrInet4).Port, nil
}

// SocketTo opens a TCP socket with Nagle off to 127.0.0.1:port, bound to
// src[i%len(src)] when src is given (-src). A non-blocking socket's
// connect is only started; a blocking one's has finished.
func SocketTo(port int, src [][4]byte, i int, nonblock bool) (int, error) {
	typ := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	if nonblock {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(unix.AF_INET, typ, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if len(src) > 0 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src[i%len(src)]}); err != nil {
			_ = unix.Close(fd)
			return -1, fmt.Errorf("bind: %w", err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	if err != nil && !(nonblock && err == unix.EINPROGRESS) {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}
