package sys

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Child is a phxbench process run in one of its child modes (-sink,
// -floor-server, -worker): it talks over its stdin and stdout, shares our
// stderr, and ends when its stdin closes.
type Child struct {
	Cmd    *exec.Cmd
	Stdin  io.WriteCloser
	Stdout io.ReadCloser
}

// StartChild starts exe ("": this executable) with args; what names the
// child in errors.
func StartChild(what, exe string, args ...string) (*Child, error) {
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", what, err)
	}
	return &Child{Cmd: cmd, Stdin: stdin, Stdout: stdout}, nil
}

// StartListener starts a child that prints the port it listens on as its
// first line, and returns the child, its stdout past that line, and the
// port. A child that prints no port is stopped.
func StartListener(what, exe string, args ...string) (*Child, *bufio.Reader, int, error) {
	c, err := StartChild(what, exe, args...)
	if err != nil {
		return nil, nil, 0, err
	}
	out := bufio.NewReader(c.Stdout)
	line, err := out.ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		c.Stop()
		return nil, nil, 0, fmt.Errorf("%s did not report its port: %q", what, line)
	}
	return c, out, port, nil
}

// Stop closes the child's stdin, which ends it, and waits (killing it
// after 5 s).
func (c *Child) Stop() {
	_ = c.Stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.Cmd.Process.Kill()
		<-done
	}
}
