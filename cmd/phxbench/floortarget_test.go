package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/floor"
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
