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
	req := wire.AppendClientFrame(nil, ws.OpText, []byte(push), mask)
	resp := len(wire.AppendServerFrame(nil, ws.OpText, []byte(reply)))
	n := 0
	t := &floor.Target{
		Port: port,
		Req:  req,
		CPU:  func() (float64, error) { return procstat.CPU(pid) },
		Setup: func(fd int) error {
			n++
			q := url.Values{"token": {"user:f" + strconv.Itoa(n)}, "vsn": {"2.0.0"}}
			return setupEcho(fd, u.Host, path+"?"+q.Encode(), join, req, resp)
		},
	}
	return t, len(req), resp, nil
}

// setupEcho upgrades a blocking socket, joins the echo topic and sends
// one echo push, reading the 101, the join reply and the push's reply
// whole: the reply must be exactly resp bytes, the size the floor's client
// counts replies by. Each read and write waits 5 s at most.
func setupEcho(fd int, host, pathQuery string, join, req []byte, resp int) error {
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	for _, opt := range []int{unix.SO_RCVTIMEO, unix.SO_SNDTIMEO} {
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, opt, &tv); err != nil {
			return fmt.Errorf("socket timeout: %w", err)
		}
	}
	const key = "Zmxvb3ItY2xpZW50LWtleQ=="
	if err := writeAll(fd, wire.AppendUpgrade(nil, host, pathQuery, key, "", "")); err != nil {
		return err
	}
	var buf []byte
	for {
		b, err := readMore(fd, buf, 16<<10)
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
	for _, step := range []struct {
		name string
		out  []byte
		size int // the reply's exact size, or 0
	}{{"join", join, 0}, {"first echo", req, resp}} {
		limit := 64 << 10 // a join reply
		if step.size > 0 {
			limit = step.size
		}
		if err := writeAll(fd, step.out); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		frame, err := readFrame(fd, limit)
		if err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
		if !bytes.Contains(frame, []byte(`"phx_reply"`)) || !bytes.Contains(frame, []byte(`"status":"ok"`)) {
			return fmt.Errorf("%s refused or answered by something else: %q", step.name, frame)
		}
		if step.size > 0 && len(frame) != step.size {
			return fmt.Errorf("%s: the reply is %d bytes, not the %d the floor's client counts by: %q", step.name, len(frame), step.size, frame)
		}
	}
	return nil
}

// readFrame reads one whole frame, header included, and nothing after it,
// of at most limit bytes.
func readFrame(fd, limit int) ([]byte, error) {
	var buf []byte
	for {
		b, err := readMore(fd, buf, limit)
		if err != nil {
			return nil, err
		}
		buf = b
		h, ok, err := wire.ParseFrameHeader(buf)
		if err != nil {
			return nil, err
		}
		if ok && h.Size+h.Length > limit {
			return nil, fmt.Errorf("a frame of %d bytes, more than %d", h.Size+h.Length, limit)
		}
		if !ok || len(buf) < h.Size+h.Length {
			continue
		}
		if len(buf) != h.Size+h.Length {
			return nil, fmt.Errorf("more than one frame: %q", buf)
		}
		return buf, nil
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
		if err == unix.EAGAIN {
			return errors.New("could not write within 5 s")
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// readMore appends one read's bytes to buf, failing once the answer would
// pass limit bytes (it reads one byte more than limit, so that a longer
// answer is told from one of exactly limit bytes).
func readMore(fd int, buf []byte, limit int) ([]byte, error) {
	if len(buf) > limit {
		return nil, fmt.Errorf("answer longer than %d bytes", limit)
	}
	tmp := make([]byte, min(4096, limit+1-len(buf)))
	n, err := unix.Read(fd, tmp)
	for err == unix.EINTR {
		n, err = unix.Read(fd, tmp)
	}
	if err == unix.EAGAIN {
		return nil, errors.New("no answer within 5 s")
	}
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("closed by the server")
	}
	return append(buf, tmp[:n]...), nil
}
