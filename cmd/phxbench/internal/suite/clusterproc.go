package suite

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The processes the cluster suite starts: private redis-server processes
// and phxd nodes, each on a free loopback port. Every child is registered
// in a children set, so that whatever happens (an error, Ctrl-C, SIGTERM)
// the suite kills what it started before it returns; each is also started
// with a parent-death signal (SIGKILL), so that not even a killed phxbench
// leaves one running.

// child is one process the cluster suite started.
type child struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once Wait returned (ProcessState is set)
}

// children is the set of running children.
type children struct {
	mu     sync.Mutex
	list   map[*child]bool
	closed bool // killAll ran: no new child may start
}

func newChildren() *children { return &children{list: map[*child]bool{}} }

// start starts argv with its output to logPath and registers it.
func (cs *children) start(name, logPath string, argv []string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	return cs.startCmd(name, cmd, func() {
		logf.Close()
		if st, err := os.Stat(logPath); err == nil && st.Size() == 0 {
			_ = os.Remove(logPath)
		}
	})
}

// startCmd starts a prepared command and registers it; done runs once it
// exited.
func (cs *children) startCmd(name string, cmd *exec.Cmd, done func()) (*child, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		done()
		return nil, errors.New("interrupted")
	}
	if err := cmd.Start(); err != nil {
		done()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, exited: make(chan struct{})}
	cs.list[c] = true
	go func() {
		_ = cmd.Wait()
		done()
		cs.mu.Lock()
		delete(cs.list, c)
		cs.mu.Unlock()
		close(c.exited)
	}()
	return c, nil
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// running reports whether the child has not exited yet.
func (c *child) running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to grace, then kills.
func (c *child) stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(grace):
		c.kill()
	}
}

// kill sends SIGKILL and waits for the exit.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// killAll kills every running child and refuses new ones.
func (cs *children) killAll() {
	cs.mu.Lock()
	cs.closed = true
	var l []*child
	for c := range cs.list {
		l = append(l, c)
	}
	cs.mu.Unlock()
	for _, c := range l {
		c.kill()
	}
}

// count is the number of running children.
func (cs *children) count() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.list)
}

// freePort returns a loopback port nothing listens on now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// errNoRedis is what the suite says when redis-server is not installed.
var errNoRedis = errors.New("redis-server not found: install Debian's redis-server (apt-get install redis-server), or name it with -redis-server PATH")

// redisArgs are a private, memory-only redis-server's arguments.
func redisArgs(exe string, port int, dir string) []string {
	return []string{exe, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no",
		"--loglevel", "warning", "--logfile", ""}
}

// redisProc is a running private redis-server.
type redisProc struct {
	*child
	addr string
}

// url is the -redis URL of the server (database 0).
func (r *redisProc) url() string { return "redis://" + r.addr + "/0" }

// startRedis starts a private redis-server on a free loopback port and
// waits until it answers PING.
func startRedis(cs *children, exe, dir, logPath string) (*redisProc, error) {
	path, err := exec.LookPath(exe)
	if err != nil {
		return nil, errNoRedis
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c, err := cs.start("redis-server", logPath, redisArgs(path, port, dir))
	if err != nil {
		return nil, err
	}
	r := &redisProc{child: c, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !c.running() {
			return nil, fmt.Errorf("redis-server exited at start (see %s)", logPath)
		}
		if redisPing(r.addr) == nil {
			return r, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.kill()
	return nil, fmt.Errorf("redis-server on %s did not answer PING within 10 s", r.addr)
}

// redisPing sends PING in the inline protocol and expects +PONG.
func redisPing(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// node is a running phxd.
type node struct {
	*child
	name string
	addr string
	args []string // phxd's flags, for the record
}

// wsURL is the node's socket URL.
func (n *node) wsURL() string { return "ws://" + n.addr + "/socket/websocket" }

// nodeArgs are phxd's flags for a node: on Redis when redisURL is set.
func nodeArgs(addr, redisURL, name string) []string {
	a := serverArgs(addr)
	if redisURL != "" {
		a = append(a, "-redis", redisURL, "-node", name)
	}
	return a
}

// startNode starts phxd on a free port and waits until it serves /healthz.
func startNode(cs *children, phxd, name, redisURL, logPath string) (*node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := nodeArgs(addr, redisURL, name)
	c, err := cs.start("phxd "+name, logPath, append([]string{phxd}, args...))
	if err != nil {
		return nil, err
	}
	n := &node{child: c, name: name, addr: addr, args: args}
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if !c.running() {
			return nil, fmt.Errorf("phxd %s exited at start (see %s)", name, logPath)
		}
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.kill()
	return nil, fmt.Errorf("phxd %s did not answer /healthz on %s within 15 s (see %s)", name, addr, logPath)
}
