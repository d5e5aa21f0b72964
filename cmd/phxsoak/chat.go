package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

//go:embed chat.js
var chatJS []byte

// chatOptions configure the phoenix.js chat.
type chatOptions struct {
	node        string // node binary
	nodeModules string // a node_modules with phoenix and ws
	clients     int
	rate        float64 // messages per second per client
	duration    time.Duration
}

// ChatResult is what the chat clients saw.
type ChatResult struct {
	Clients int `json:"clients"`
	// Version is the phoenix.js version the clients ran.
	Version string `json:"version"`
	// Sent counts pushes answered ok (each has a round trip), Received the
	// new_msg broadcasts delivered to the clients.
	Sent     int `json:"sent"`
	Received int `json:"received"`
	// Errors counts push errors and timeouts, socket errors, closes and
	// refused joins.
	PushErrors   int `json:"push_errors"`
	PushTimeouts int `json:"push_timeouts"`
	SocketErrors int `json:"socket_errors"`
	JoinsOK      int `json:"joins_ok"`
	JoinsFailed  int `json:"joins_failed"`
	// P50, P99 and Max are push→reply round trips in milliseconds.
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	// Err is set when the chat could not run.
	Err string `json:"err,omitempty"`
}

// chat is a running chat process.
type chat struct {
	cmd  *exec.Cmd
	done chan struct{}
	res  ChatResult
	rtts []float64
	mu   sync.Mutex
}

// startChat runs chat.js (written to dir) against phxd at addr.
func startChat(ctx context.Context, o chatOptions, dir, addr string) (*chat, error) {
	nm, err := filepath.Abs(o.nodeModules)
	if err != nil {
		return nil, err
	}
	for _, pkg := range []string{"phoenix", "ws"} {
		if _, err := os.Stat(filepath.Join(nm, pkg, "package.json")); err != nil {
			return nil, fmt.Errorf("chat: %s has no %s: run `npm ci` in compat_test", nm, pkg)
		}
	}
	script := filepath.Join(dir, "chat.js")
	if err := os.WriteFile(script, chatJS, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, o.node, script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm,
		"SOAK_URL=ws://"+addr+"/socket",
		fmt.Sprintf("SOAK_CLIENTS=%d", o.clients),
		fmt.Sprintf("SOAK_RATE=%g", o.rate),
		fmt.Sprintf("SOAK_DURATION_MS=%d", o.duration.Milliseconds()))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("chat: start node: %w", err)
	}
	c := &chat{cmd: cmd, done: make(chan struct{}), res: ChatResult{Clients: o.clients}}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.line(sc.Bytes())
		}
		if err := cmd.Wait(); err != nil && c.res.Version == "" {
			c.mu.Lock()
			c.res.Err = fmt.Sprintf("node: %v: %s", err, strings.TrimSpace(stderr.String()))
			c.mu.Unlock()
		}
	}()
	return c, nil
}

func (c *chat) line(b []byte) {
	var ev struct {
		Ev       string  `json:"ev"`
		Ms       float64 `json:"ms"`
		Status   string  `json:"status"`
		Received int     `json:"received"`
		Version  string  `json:"version"`
	}
	if json.Unmarshal(b, &ev) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch ev.Ev {
	case "rtt":
		c.rtts = append(c.rtts, ev.Ms)
	case "push_error":
		c.res.PushErrors++
	case "push_timeout":
		c.res.PushTimeouts++
	case "socket_error":
		c.res.SocketErrors++
	case "join":
		if ev.Status == "ok" {
			c.res.JoinsOK++
		} else {
			c.res.JoinsFailed++
		}
	case "done":
		c.res.Received, c.res.Version = ev.Received, ev.Version
	}
}

// wait waits for the chat to finish (or kills it after timeout) and
// returns its result.
func (c *chat) wait(timeout time.Duration) ChatResult {
	select {
	case <-c.done:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.Sent = len(c.rtts)
	if r.Version == "" && r.Err == "" {
		r.Err = "the chat did not finish"
	}
	if len(c.rtts) > 0 {
		s := slices.Clone(c.rtts)
		slices.Sort(s)
		r.P50, r.P99, r.Max = quantile(s, 0.50), quantile(s, 0.99), s[len(s)-1]
	}
	return r
}

// quantile returns the q-quantile of sorted s (nearest rank).
func quantile(s []float64, q float64) float64 {
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
