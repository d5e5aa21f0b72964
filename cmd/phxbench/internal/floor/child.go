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
