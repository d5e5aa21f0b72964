package compat_test

import (
	"bufio"
	"encoding/json"
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
	"testing"
	"time"
)

// phxd is one running server process. It reads the server's JSON log lines
// (-log-format json) so tests can wait for "listening" and count "connect
// rejected" events.
type phxd struct {
	name  string
	flags []string
	addr  string   // host:port from the "listening" log line
	tls   bool     // started with -tls-cert: wss:// and https:// (tls_test.go)
	env   []string // extra environment of the node clients run against it
	cmd   *exec.Cmd

	mu      sync.Mutex
	lines   []string   // every output line, stderr and stdout, in arrival order
	entries []logEntry // the lines that parsed as JSON objects
	changed chan struct{}

	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed

	stopOnce sync.Once
	stopErr  error
	checked  atomic.Bool // a test called stopChecked and judges the result itself
}

// logEntry is one JSON log line. Only the fields the suite looks at.
type logEntry struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Addr   string `json:"addr"`
	Mode   string `json:"mode"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

const (
	startTimeout = 20 * time.Second // build-with-race binaries start slower
	stopTimeout  = 15 * time.Second // drain included
)

// startServer starts a phxd with extra flags for one test; it is stopped
// (SIGTERM, exit status checked) when the test ends.
func startServer(t *testing.T, flags ...string) *phxd {
	t.Helper()
	s, err := launch(t.Name(), flags...)
	if err != nil {
		t.Fatalf("start phxd %v: %v", flags, err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil && !s.checked.Load() {
			t.Errorf("phxd %v: %v", flags, err)
		}
		if t.Failed() || s.suspicious() {
			if path, err := s.saveLog(t.Name()); err == nil {
				t.Logf("phxd log: %s", path)
			}
			t.Logf("phxd log tail:\n%s", s.tail(40))
		}
	})
	return s
}

// launch starts phxd -addr 127.0.0.1:0 -log-format json plus flags and waits
// for its "listening" line.
func launch(name string, flags ...string) (*phxd, error) {
	args := append([]string{"-addr", "127.0.0.1:0", "-log-format", "json"}, flags...)
	s := &phxd{
		name:    name,
		flags:   flags,
		cmd:     exec.Command(phxdBin, args...),
		changed: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	s.cmd.Env = append(os.Environ(), "PHXD_API_KEY="+apiKey) // enables POST /api/broadcast
	dieWithParent(s.cmd)
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go s.scan(stderr, &readers)
	go s.scan(stdout, &readers)
	go func() {
		readers.Wait() // Wait must not run before the pipes are drained
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	deadline := time.After(startTimeout)
	for {
		s.mu.Lock()
		for _, e := range s.entries {
			if e.Msg == "listening" && e.Addr != "" {
				s.addr = e.Addr
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if s.addr != "" {
			return s, nil
		}
		select {
		case <-changed:
		case <-s.exited:
			return nil, fmt.Errorf("phxd exited before listening (%v):\n%s", s.waitErr, s.tail(30))
		case <-deadline:
			_ = s.cmd.Process.Kill()
			<-s.exited
			return nil, fmt.Errorf("no \"listening\" log line within %v:\n%s", startTimeout, s.tail(30))
		}
	}
}

func (s *phxd) scan(r io.Reader, done *sync.WaitGroup) {
	defer done.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		s.lines = append(s.lines, line)
		var e logEntry
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &e) == nil {
			s.entries = append(s.entries, e)
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	}
}

// wsURL is the phoenix.js endpoint (phoenix.js appends /websocket).
func (s *phxd) wsURL() string {
	if s.tls {
		return "wss://" + s.addr + "/socket"
	}
	return "ws://" + s.addr + "/socket"
}

// stop sends SIGTERM and waits for the exit. The contract: drain, exit 0.
// Calling it again returns the first result.
func (s *phxd) stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.terminate() })
	return s.stopErr
}

// stopChecked is stop for a test that checks the result itself (the
// cleanup then does not report it a second time).
func (s *phxd) stopChecked() error {
	s.checked.Store(true)
	return s.stop()
}

func (s *phxd) terminate() error {
	select {
	case <-s.exited:
		return fmt.Errorf("phxd had already exited: %v", s.waitErr)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("did not exit within %v of SIGTERM (killed)", stopTimeout)
	}
	if s.waitErr != nil {
		var ee *exec.ExitError
		if errors.As(s.waitErr, &ee) && ee.ExitCode() == 66 && raceEnabled {
			return fmt.Errorf("exit status 66: the race detector found a DATA RACE in phxd:\n%s", s.firstSuspicious(16))
		}
		return fmt.Errorf("exit after SIGTERM: %v (want status 0)", s.waitErr)
	}
	if s.suspicious() {
		return fmt.Errorf("phxd printed a panic, fatal error or DATA RACE:\n%s", s.firstSuspicious(16))
	}
	return nil
}

var suspiciousLine = regexp.MustCompile(`^(panic: |fatal error: |WARNING: DATA RACE)`)

// suspicious reports raw (non-JSON) output that means a crash or a race.
func (s *phxd) suspicious() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lines {
		if suspiciousLine.MatchString(l) {
			return true
		}
	}
	return false
}

// firstSuspicious returns up to n lines from the first suspicious line on.
func (s *phxd) firstSuspicious(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.lines {
		if suspiciousLine.MatchString(l) {
			return strings.Join(s.lines[i:min(len(s.lines), i+n)], "\n")
		}
	}
	return ""
}

// rejections returns the "connect rejected" log entries so far.
func (s *phxd) rejections() []logEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []logEntry
	for _, e := range s.entries {
		if e.Msg == "connect rejected" {
			out = append(out, e)
		}
	}
	return out
}

// settledRejections waits until no new "connect rejected" line has appeared
// for quiet (bounded by max) and returns them.
func (s *phxd) settledRejections(quiet, max time.Duration) []logEntry {
	deadline := time.Now().Add(max)
	last := s.rejections()
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		cur := s.rejections()
		if len(cur) == len(last) {
			return cur
		}
		last = cur
	}
	return last
}

func (s *phxd) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := max(0, len(s.lines)-n)
	return strings.Join(s.lines[from:], "\n")
}

// saveLog writes the whole server output to artifacts/<name>.phxd.log.
func (s *phxd) saveLog(name string) (string, error) {
	s.mu.Lock()
	text := strings.Join(s.lines, "\n") + "\n"
	s.mu.Unlock()
	if err := os.MkdirAll(artifact, 0o755); err != nil {
		return "", err
	}
	safe := regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(name, "_")
	path := filepath.Join(artifact, safe+".phxd.log")
	return path, os.WriteFile(path, []byte(text), 0o644)
}

// modes lists the "mode" field of log entries, for messages.
func modes(es []logEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Mode
	}
	return out
}
