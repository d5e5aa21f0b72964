package main

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/floor"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
)

func TestEchoTargetNeeds(t *testing.T) {
	for _, c := range []struct {
		url string
		pid int
	}{
		{"ws://10.0.0.1:4000/socket/websocket", 1},
		{"wss://127.0.0.1:4000/socket/websocket", 1},
		{"ws://127.0.0.1/socket/websocket", 1},
		{"ws://127.0.0.1:4000/socket/websocket", 0},
	} {
		if _, _, _, err := echoTarget(c.url, c.pid, "bench:echo", 0); err == nil {
			t.Errorf("%s pid %d accepted", c.url, c.pid)
		}
	}
	tg, req, resp, err := echoTarget("ws://127.0.0.1:4000/socket/websocket", 1, "bench:echo", 0)
	if err != nil || len(tg.Req) != req || tg.Port != 4000 {
		t.Fatalf("%v %d %d %v", tg, req, resp, err)
	}
	if wantReq, wantResp := echoSizes("bench:echo", 0); req != wantReq || resp != wantResp {
		t.Errorf("sizes %d/%d, want the floor's %d/%d", req, resp, wantReq, wantResp)
	}
}

// A server that refuses the upgrade fails the measurement with the reason.
func TestEchoTargetRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4096)
			_, _ = c.Read(buf)
			_, _ = c.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
			_ = c.Close()
		}
	}()
	url := "ws://" + ln.Addr().String() + "/socket/websocket"
	tg, req, resp, err := echoTarget(url, 1, "bench:echo", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = floor.MeasureEcho(floor.EchoOptions{N: 2, Rate: 10, D: time.Second, Req: req, Resp: resp, Target: tg})
	if err == nil || !strings.Contains(err.Error(), "status 403") {
		t.Errorf("err = %v, want the 403", err)
	}
}

// The setup's blocking read goes on through signals: with SO_RCVTIMEO set
// the kernel returns EINTR instead of restarting it, and the runtime's
// preemption signal (SIGURG) comes at any time (a suite run once failed a
// join with "interrupted system call").
func TestSetupReadSurvivesSignals(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	tid := make(chan int, 1)
	type res struct {
		b   []byte
		err error
	}
	done := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- unix.Gettid()
		b, err := readMore(fds[0], nil, 64)
		done <- res{b, err}
	}()
	id := <-tid
	for range 20 {
		time.Sleep(5 * time.Millisecond)
		_ = unix.Tgkill(unix.Getpid(), id, unix.SIGURG)
	}
	if _, err := unix.Write(fds[1], []byte("101")); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || string(r.b) != "101" {
		t.Errorf("readMore = %q, %v", r.b, r.err)
	}
}

// readFrame takes one frame of at most its limit, and nothing after it.
func TestReadFrameBounds(t *testing.T) {
	frame := wire.AppendServerFrame(nil, ws.OpText, []byte(`["1","12","bench:echo","phx_reply",{}]`))
	for _, c := range []struct {
		name  string
		in    []byte
		limit int
		want  string // error text, "" for none
	}{
		{"exact", frame, len(frame), ""},
		{"over the limit", frame, len(frame) - 1, "more than"},
		{"two frames", append(append([]byte{}, frame...), frame...), 4 * len(frame), "more than one frame"},
		{"a header announcing too much", []byte{0x81, 126, 0xff, 0xff}, 1000, "65539 bytes, more than 1000"},
	} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unix.Write(fds[1], c.in); err != nil {
			t.Fatal(err)
		}
		got, err := readFrame(fds[0], c.limit)
		switch {
		case c.want == "" && (err != nil || string(got) != string(frame)):
			t.Errorf("%s: %q, %v", c.name, got, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		unix.Close(fds[0])
		unix.Close(fds[1])
	}
}
