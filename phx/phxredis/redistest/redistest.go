// Package redistest starts private redis-server processes for tests: a
// single server, or a Redis Cluster of several masters, each on free
// loopback ports, with no persistence, stopped when the test ends. It never
// touches a system-wide Redis. PhoenixPeer runs an Erlang stand-in for an
// Elixir node on phoenix_pubsub_redis against such a server.
//
// It needs Debian's redis-server and redis-cli (7.0 or newer, for sharded
// Pub/Sub); the repository's test command installs them. A missing binary
// fails the test with a message saying so: it never skips.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartTimeout bounds how long a server or a cluster may take to come up.
var StartTimeout = 20 * time.Second

// Server is one private redis-server process.
type Server struct {
	t       testing.TB
	Port    int
	dir     string
	cluster bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	waitCh chan struct{} // closed when cmd has exited
	out    *logBuffer
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// URL is the server's redis:// URL (database 0).
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// NewServer starts a standalone redis-server on a free loopback port and
// stops it when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, false)
	t.Cleanup(s.Stop)
	return s
}

func newServer(t testing.TB, cluster bool) *Server {
	t.Helper()
	lookPath(t, "redis-server")
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort(cluster)
		if err != nil {
			t.Fatalf("redistest: no free port: %v", err)
		}
		s := &Server{t: t, Port: port, dir: t.TempDir(), cluster: cluster}
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: redis-server did not start: %v", lastErr)
	return nil
}

// args are the server's command line: loopback only, no persistence, no
// protected-mode surprises, logs to stdout (kept for failure reports).
func (s *Server) args() []string {
	a := []string{
		"--port", strconv.Itoa(s.Port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--daemonize", "no",
		"--loglevel", "warning",
		"--logfile", "",
	}
	if s.cluster {
		a = append(a, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", "2000")
	}
	return a
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redistest: server already running")
	}
	cmd := exec.Command(lookPath(s.t, "redis-server"), s.args()...)
	out := &logBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(StartTimeout)
	for {
		if err := ping(s.Addr()); err == nil {
			break
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server on port %d exited: %s", s.Port, out.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on port %d not answering after %v: %s", s.Port, StartTimeout, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd, s.out, s.waitCh = cmd, out, exited
	return nil
}

// Stop kills the server (SIGKILL: nothing is saved anyway) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.waitCh
	s.cmd, s.waitCh = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts a stopped server again on the same port, empty (an outage
// of a Redis without persistence). It fails the test if it cannot.
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restarting redis-server on port %d: %v", s.Port, err)
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Do sends one command with redis-cli and returns its output (for test
// set-up and inspection; the code under test uses its own client).
func (s *Server) Do(args ...string) (string, error) {
	return cli(s.t, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, args...)...)
}

// Cluster is a private Redis Cluster of masters only (no replicas).
type Cluster struct {
	Servers []*Server
}

// Addrs are the masters' host:port addresses.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		a[i] = s.Addr()
	}
	return a
}

// URL is a redis:// URL naming the first master and the others as addr
// parameters (the form go-redis's ParseClusterURL reads).
func (c *Cluster) URL() string {
	a := c.Addrs()
	u := "redis://" + a[0]
	for i, addr := range a[1:] {
		if i == 0 {
			u += "?addr=" + addr
		} else {
			u += "&addr=" + addr
		}
	}
	return u
}

// NewCluster starts masters redis-server processes in cluster mode, joins
// them with `redis-cli --cluster create` (slots spread evenly) and waits
// until every node reports cluster_state:ok. It is stopped when the test
// ends.
func NewCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 masters, got %d", masters)
	}
	c := &Cluster{}
	for i := 0; i < masters; i++ {
		s := newServer(t, true)
		t.Cleanup(s.Stop)
		c.Servers = append(c.Servers, s)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := cli(t, args...); err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(StartTimeout)
	for _, s := range c.Servers {
		for {
			out, err := s.Do("cluster", "info")
			if err == nil && strings.Contains(out, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster not ok after %v (node %s): %v\n%s", StartTimeout, s.Addr(), err, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := "redis-server and redis-tools"
		if name == "escript" {
			pkg = "erlang-base"
		}
		t.Fatalf("redistest: %s not found on PATH: install Debian's %s (the test command `make test` does)", name, pkg)
	}
	return p
}

func cli(t testing.TB, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, lookPath(t, "redis-cli"), args...).CombinedOutput()
	return string(out), err
}

// ping sends a RESP PING and expects +PONG (or -LOADING / cluster errors
// count as not ready).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// freePort finds a loopback port that is free now; for cluster nodes the
// cluster bus port (port+10000) must be free too.
func freePort(cluster bool) (int, error) {
	for i := 0; i < 100; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		if !cluster {
			return port, nil
		}
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		_ = bus.Close()
		return port, nil
	}
	return 0, errors.New("no port pair free")
}

// logBuffer keeps the last 8 KiB a server printed.
type logBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > 8<<10 {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-8<<10:]...)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
