// Package phxdtest runs real phxd processes for phxbench's tests: phxd is
// built once per test binary, and each test starts its own on a free
// loopback port and has it stopped when it ends.
package phxdtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// build is phxd built once for the test binary (Remove deletes its
// directory).
var build struct {
	once     sync.Once
	dir, bin string
	err      error
}

// Build builds cmd/phxd once and returns the binary's path.
func Build(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "phxbench-phxd-")
		if err != nil {
			build.err = err
			return
		}
		build.dir, build.bin = dir, filepath.Join(dir, "phxd")
		if out, err := exec.Command("go", "build", "-o", build.bin, "github.com/phxgo/phxgo/cmd/phxd").CombinedOutput(); err != nil {
			build.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatalf("building phxd: %v", build.err)
	}
	return build.bin
}

// Remove deletes what Build made; TestMain calls it after the tests.
func Remove() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}

// Start runs bin (a phxd) with extra flags on a free loopback port, logging
// JSON at info level, and returns its host:port and pid. When the test ends
// it is sent SIGTERM (its drain is 2 s) and killed after 15 s.
func Start(t testing.TB, bin string, flags ...string) (addr string, pid int) {
	t.Helper()
	logs := &logWatch{addr: make(chan string, 1)}
	args := append([]string{"-addr", "127.0.0.1:0", "-log-format", "json", "-log-level", "info", "-drain-timeout", "2s"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = logs
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case addr := <-logs.addr:
		return addr, cmd.Process.Pid
	case <-exited:
		t.Fatalf("phxd exited before listening:\n%s", logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("phxd did not log its address within 60 s:\n%s", logs)
	}
	return "", 0
}

// logWatch is phxd's stderr: it remembers the output and hands over the
// address of the "listening" line.
type logWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	line []byte
	addr chan string
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		var rec struct{ Msg, Addr string }
		if json.Unmarshal(w.line[:i], &rec) == nil && rec.Msg == "listening" {
			select {
			case w.addr <- rec.Addr:
			default:
			}
		}
		w.line = w.line[i+1:]
	}
	return len(p), nil
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
