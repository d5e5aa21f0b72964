package floor

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
	"golang.org/x/sys/unix"
)

// child is a running bare server.
type child struct {
	*sys.Child
	out  *bufio.Reader
	port int
}

// startChild starts phxbench -floor-server with args and reads its port.
// exe is the phxbench binary ("" : this executable).
func startChild(exe string, args ...string) (*child, error) {
	c, out, port, err := sys.StartListener("floor server", exe, append([]string{"-floor-server"}, args...)...)
	if err != nil {
		return nil, err
	}
	return &child{Child: c, out: out, port: port}, nil
}

// cpu asks the child for its CPU seconds so far.
func (c *child) cpu() (float64, error) {
	if _, err := io.WriteString(c.Stdin, "\n"); err != nil {
		return 0, err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.TrimSpace(line), 64)
}

// socketTo opens a non-blocking socket bound to src (when given) and
// starts its connect to 127.0.0.1:port.
func socketTo(port int, src [][4]byte, i int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if len(src) > 0 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src[i%len(src)]}); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("bind: %w", err)
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}

// waitConnected waits until a non-blocking connect finished.
func waitConnected(fd int) error {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("connect timed out")
		}
		if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || v != 0 {
			return fmt.Errorf("connect: %v", unix.Errno(v))
		}
		return nil
	}
}

// filled returns a buffer of n bytes.
func filled(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'x'
	}
	return b
}
