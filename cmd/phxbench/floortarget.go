package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/floor"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
	"golang.org/x/sys/unix"
)

// -floor with echo also measures the server under test with the floor's
// own client (floor.Target): the same sockets, arrival pattern and raw
// reads as the bare server's run, so that the two round trips are taken
// the same way. phxbench's client, whose figures the run reports first,
// parses every frame and JSON reply on one event loop; the floor's client
// counts reply bytes on a goroutine of its own.

// echoTarget returns the target of the run's server: the URL's loopback
// port, a handshake and join per socket, the echo push (a fixed ref), and
// the CPU of -pid. It needs -pid and a ws:// URL on 127.0.0.1.
func echoTarget(rawURL string, pid int, topic string, size int) (*floor.Target, int, int, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ws" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		return nil, 0, 0, fmt.Errorf("the floor client measures a ws://127.0.0.1:PORT server, not %q", rawURL)
	}
	if pid <= 0 {
		return nil, 0, 0, errors.New("the floor client needs the server's -pid for its CPU")
	}
	port, _ := strconv.Atoi(u.Port())
	path := u.EscapedPath()
	if path == "" {
		path = "/socket/websocket"
	}
	push, reply := echoFrames(topic, size)
	mask := [4]byte{0x5a, 0x17, 0xc3, 0x2e}
	join := wire.AppendClientFrame(nil, ws.OpText, fmt.Appendf(nil, `["1","1",%q,"phx_join",{}]`, topic), mask)
	n := 0
	t := &floor.Target{
		Port: port,
		Req:  wire.AppendClientFrame(nil, ws.OpText, []byte(push), mask),
		CPU:  func() (float64, error) { return procstat.CPU(pid) },
		Setup: func(fd int) error {
			n++
			q := url.Values{"token": {"user:f" + strconv.Itoa(n)}, "vsn": {"2.0.0"}}
			return setupEcho(fd, u.Host, path+"?"+q.Encode(), join)
		},
	}
	return t, len(t.Req), len(wire.AppendServerFrame(nil, ws.OpText, []byte(reply))), nil
}

// setupEcho upgrades a blocking socket and joins the echo topic, reading
// the 101 and the join reply whole (5 s at most each).
func setupEcho(fd int, host, pathQuery string, join []byte) error {
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	const key = "Zmxvb3ItY2xpZW50LWtleQ=="
	if err := writeAll(fd, wire.AppendUpgrade(nil, host, pathQuery, key, "", "")); err != nil {
		return err
	}
	var buf []byte
	for {
		b, err := readMore(fd, buf)
		if err != nil {
			return fmt.Errorf("upgrade: %w", err)
		}
		buf = b
		n, status, err := wire.ParseUpgrade(buf, key)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if status != 101 || n != len(buf) {
			return fmt.Errorf("upgrade: status %d, %d bytes after the header", status, len(buf)-n)
		}
		break
	}
	if err := writeAll(fd, join); err != nil {
		return err
	}
	buf = buf[:0]
	for {
		b, err := readMore(fd, buf)
		if err != nil {
			return fmt.Errorf("join: %w", err)
		}
		buf = b
		h, ok, err := wire.ParseFrameHeader(buf)
		if err != nil {
			return err
		}
		if !ok || len(buf) < h.Size+h.Length {
			continue
		}
		p := buf[h.Size : h.Size+h.Length]
		if len(buf) != h.Size+h.Length || !bytes.Contains(p, []byte(`"phx_reply"`)) || !bytes.Contains(p, []byte(`"status":"ok"`)) {
			return fmt.Errorf("join refused or followed by more: %q", buf)
		}
		return nil
	}
}

// writeAll and readMore retry a call a signal interrupted: with
// SO_RCVTIMEO set, the kernel does not restart it (the runtime's
// preemption signals arrive at any time).
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// readMore appends one read's bytes to buf (at most 64 KiB in all).
func readMore(fd int, buf []byte) ([]byte, error) {
	if len(buf) >= 64<<10 {
		return nil, errors.New("answer too long")
	}
	tmp := make([]byte, 4096)
	n, err := unix.Read(fd, tmp)
	for err == unix.EINTR {
		n, err = unix.Read(fd, tmp)
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("closed by the server")
	}
	return append(buf, tmp[:n]...), nil
}
