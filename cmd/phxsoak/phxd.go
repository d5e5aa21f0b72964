package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// buildPhxd builds cmd/phxd of this module into dir and returns its path.
func buildPhxd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "phxd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/phxgo/phxgo/cmd/phxd")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build phxd: %v\n%s", err, out)
	}
	return bin, nil
}

// phxd is a running phxd child process.
type phxd struct {
	cmd  *exec.Cmd
	addr string // its listen address
	pid  int

	logLines, logBytes atomic.Int64 // stderr lines and bytes so far
	longest            atomic.Int64 // longest stderr line in bytes

	tailMu sync.Mutex
	tail   []string // the last lines of stderr, for error reports

	exited chan struct{} // closed when the process has exited
	err    error         // Wait's error, after exited
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startPhxd starts bin on a free loopback port with args appended and the
// API key in its environment, and waits for its "listening" line.
func startPhxd(bin, apiKey string, args []string) (*phxd, error) {
	argv := append([]string{"-addr", "127.0.0.1:0", "-log-format", "text"}, args...)
	cmd := exec.Command(bin, argv...)
	cmd.Env = append(os.Environ(), "PHXD_API_KEY="+apiKey)
	cmd.Stdout = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start phxd: %w", err)
	}
	p := &phxd{cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{})}
	addr := make(chan string, 1)
	go p.readLog(stderr, addr)
	select {
	case a := <-addr:
		p.addr = a
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("phxd exited before listening: %v\n%s", p.err, p.lastLines())
	case <-time.After(20 * time.Second):
		p.kill()
		return nil, fmt.Errorf("phxd did not listen within 20 s\n%s", p.lastLines())
	}
}

// readLog counts stderr's lines and bytes (without keeping them: a log
// flood must not grow this process) and reports the listen address.
func (p *phxd) readLog(r io.Reader, addr chan<- string) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		p.logBytes.Add(int64(len(chunk)))
		if len(line) < 4096 {
			line = append(line, chunk[:min(len(chunk), 4096-len(line))]...)
		}
		lineLen := int64(len(chunk))
		if errors.Is(err, bufio.ErrBufferFull) {
			// a line longer than the buffer: count its bytes on
			for errors.Is(err, bufio.ErrBufferFull) {
				chunk, err = br.ReadSlice('\n')
				p.logBytes.Add(int64(len(chunk)))
				lineLen += int64(len(chunk))
			}
		}
		if lineLen > 0 {
			p.logLines.Add(1)
			if lineLen > p.longest.Load() {
				p.longest.Store(lineLen)
			}
			s := strings.TrimRight(string(line), "\n")
			if addr != nil {
				if m := listenRE.FindStringSubmatch(s); m != nil {
					addr <- m[1]
					addr = nil
				}
			}
			p.tailMu.Lock()
			if len(p.tail) == 20 {
				p.tail = p.tail[1:]
			}
			p.tail = append(p.tail, s)
			p.tailMu.Unlock()
		}
		line = line[:0]
		if err != nil {
			break
		}
	}
	p.err = p.cmd.Wait()
	close(p.exited)
}

// lastLines returns the last lines phxd logged (each cut at 4 KB).
func (p *phxd) lastLines() string {
	p.tailMu.Lock()
	defer p.tailMu.Unlock()
	return strings.Join(p.tail, "\n")
}

// kill ends phxd at once (SIGKILL) and waits for it.
func (p *phxd) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// alive reports whether phxd is still running.
func (p *phxd) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to grace for phxd to drain and exit
// (then kills it). It returns how long the exit took and whether it was
// clean (exit status 0 within grace).
func (p *phxd) stop(grace time.Duration) (time.Duration, bool) {
	start := time.Now()
	if !p.alive() {
		return 0, false
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return time.Since(start), p.err == nil
	case <-time.After(grace):
		p.kill()
		return time.Since(start), false
	}
}
