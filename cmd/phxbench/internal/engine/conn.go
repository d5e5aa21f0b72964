package engine

import (
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
	"golang.org/x/sys/unix"
)

// Socket I/O: a non-blocking connect from one of the source addresses, the
// upgrade written and parsed by hand, then frames parsed incrementally from
// each read. Writes go straight to the socket; what the kernel does not take
// waits in the client's out buffer until EPOLLOUT.

const (
	evRead  = unix.EPOLLIN | unix.EPOLLRDHUP
	evWrite = unix.EPOLLOUT
)

// connect starts a client's TCP connect.
func (e *engine) connect(c *client) {
	if c.g.gp.LongPoll {
		e.connectLP(c)
		return
	}
	c.gen++
	e.now = nowNS()
	c.connStart = e.now
	if e.st.marks.FirstConnect == 0 {
		e.st.marks.FirstConnect = e.now
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		e.failConnect(c, "socket", err)
		return
	}
	c.fd = fd
	e.setFD(fd, c)
	if len(e.o.src) > 0 {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		src := e.o.src[c.id%len(e.o.src)]
		if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: src}); err != nil {
			e.failConnect(c, "bind", err)
			return
		}
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	t := &e.p.Targets[c.ti]
	err = unix.Connect(fd, &unix.SockaddrInet4{Port: t.Port, Addr: t.Addr})
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		e.failConnect(c, "connect", err)
		return
	}
	if err := unix.EpollCtl(e.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: evRead | evWrite, Fd: int32(fd)}); err != nil {
		e.failConnect(c, "epoll_ctl", err)
		return
	}
	c.state = stConnecting
	e.connecting++
	e.st.live.connecting.Add(1)
	e.addTimer(timer{at: e.now + int64(e.p.Scenario.ConnectTimeout), c: c, gen: c.gen, kind: tConnect})
}

// failConnect records a connect that failed before the upgrade.
func (e *engine) failConnect(c *client, what string, err error) {
	e.fail(c, "connect:"+what+":"+errnoName(err))
}

// errnoName returns a short stable name for err ("ECONNREFUSED").
func errnoName(err error) string {
	var en unix.Errno
	if errors.As(err, &en) {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
		return "errno" + strconv.Itoa(int(en))
	}
	return err.Error()
}

// setFD maps fd to c for event dispatch.
func (e *engine) setFD(fd int, c *client) {
	for fd >= len(e.byFD) {
		e.byFD = append(e.byFD, make([]*client, max(1024, len(e.byFD)))...)
	}
	e.byFD[fd] = c
}

// onEvent dispatches one epoll event.
func (e *engine) onEvent(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if e.lp != nil && fd == e.lp.efd {
		e.onLPEvents()
		return
	}
	if fd >= len(e.byFD) || e.byFD[fd] == nil {
		return
	}
	c := e.byFD[fd]
	if c.state == stConnecting {
		e.connected(c)
		return
	}
	if ev.Events&evWrite != 0 && len(c.out) > 0 {
		e.flush(c)
	}
	if ev.Events&(evRead|unix.EPOLLHUP|unix.EPOLLERR) != 0 && c.fd >= 0 {
		e.read(c)
	}
}

// connected completes the TCP connect and sends the upgrade request.
func (e *engine) connected(c *client) {
	soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soErr != 0 {
		err = unix.Errno(soErr)
	}
	if err != nil {
		e.failConnect(c, "connect", err)
		return
	}
	if err := unix.EpollCtl(e.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: evRead, Fd: int32(c.fd)}); err != nil {
		e.failConnect(c, "epoll_ctl", err)
		return
	}
	c.state = stHandshaking
	var k [16]byte
	for i := range k {
		k[i] = byte(e.rng.Uint32())
	}
	c.key = base64.StdEncoding.EncodeToString(k[:])
	protocols := ""
	if tok := c.g.gp.Auth.Str(&c.vars); tok != "" {
		protocols = wire.AuthProtocols(tok)
	}
	t := &e.p.Targets[c.ti]
	e.wbuf = wire.AppendUpgrade(e.wbuf[:0], t.Host, c.g.gp.Query(t.WSPath, &c.vars), c.key, protocols, e.deflateOffer())
	e.write(c, e.wbuf)
}

// read reads what the socket has and consumes it.
func (e *engine) read(c *client) {
	n, err := unix.Read(c.fd, e.rbuf)
	switch {
	case n > 0:
		e.st.c.BytesIn += int64(n)
		data := e.rbuf[:n]
		if len(c.in) > 0 {
			c.in = append(c.in, data...)
			data = c.in
		}
		e.consume(c, data)
	case n == 0 && err == nil:
		e.lost(c, "eof")
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
	default:
		e.lost(c, "read:"+errnoName(err))
	}
}

// lost fails a client whose connection broke.
func (e *engine) lost(c *client, why string) {
	if c.state == stHandshaking {
		e.fail(c, "connect:"+why)
		return
	}
	e.fail(c, why)
}

// consume parses the upgrade response, then every whole frame in data,
// and keeps the incomplete tail in c.in.
func (e *engine) consume(c *client, data []byte) {
	if c.state == stHandshaking {
		n, status, err := wire.ParseUpgrade(data, c.key)
		switch {
		case err != nil:
			e.fail(c, "connect:bad_upgrade")
			return
		case n == 0:
			e.keep(c, data)
			return
		case status != 101:
			e.fail(c, "connect:http_"+strconv.Itoa(status))
			return
		case !e.deflateAnswer(c, data[:n]):
			return
		}
		e.opened(c)
		data = data[n:]
	}
	for len(data) > 0 && c.fd >= 0 {
		h, ok, err := wire.ParseFrameHeader(data)
		if err != nil {
			e.fail(c, "frame_too_large")
			return
		}
		if !ok || len(data) < h.Size+h.Length {
			break
		}
		frame := data[:h.Size+h.Length]
		payload := frame[h.Size:]
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		data = data[len(frame):]
		e.onFrame(c, h, payload, frame)
	}
	if c.fd >= 0 {
		e.keep(c, data)
	}
}

// keep stores an unparsed tail (possibly aliasing c.in) in c.in.
func (e *engine) keep(c *client, rest []byte) {
	switch {
	case len(rest) == 0:
		if cap(c.in) > 64<<10 {
			c.in = nil
		}
		c.in = c.in[:0]
	case len(c.in) > 0 && &rest[len(rest)-1] == &c.in[len(c.in)-1]:
		// rest is c.in's tail: move it to the front, unless nothing was
		// consumed (a big frame still arriving), when it is in place
		// already; moving it onto itself after every read was most of
		// the memmove of a presence run.
		if &rest[0] != &c.in[0] {
			copy(c.in, rest)
		}
		c.in = c.in[:len(rest)]
	default:
		c.in = append(c.in[:0], rest...)
	}
}

// onFrame handles one frame: control frames here, data (reassembled when
// fragmented) to the message handler.
func (e *engine) onFrame(c *client, h wire.FrameHeader, payload, frame []byte) {
	e.st.c.FramesIn++
	if !e.checkRSV(c, &h) {
		return
	}
	switch h.Op {
	case ws.OpPing:
		e.sendFrame(c, ws.OpPong, payload)
		return
	case ws.OpPong:
		return
	case ws.OpClose:
		code, reason := ws.ParseCloseFrameData(payload)
		why := "closed:" + strconv.Itoa(int(code))
		if reason != "" {
			why += ":" + reason
		}
		e.lost(c, why)
		return
	}
	compressed := h.Rsv&wire.RSV1 != 0
	if h.Op == ws.OpContinuation || !h.Fin {
		if h.Op != ws.OpContinuation {
			c.fragOp = h.Op
			c.frag = c.frag[:0]
			c.deflate &^= dfFrag
			if compressed {
				c.deflate |= dfFrag
			}
		}
		c.frag = append(c.frag, payload...)
		if len(c.frag) > wire.MaxFrame {
			e.fail(c, "frame_too_large")
			return
		}
		if !h.Fin {
			return
		}
		payload, frame = c.frag, nil
		h.Op = c.fragOp
		compressed = c.deflate&dfFrag != 0
		defer func() { c.frag = nil }()
	}
	if compressed {
		var ok bool
		if payload, ok = e.inflate(c, payload); !ok {
			return
		}
	}
	e.onMessage(c, payload, h.Op == ws.OpBinary, frame)
}

// sendFrame writes one masked frame.
func (e *engine) sendFrame(c *client, op ws.OpCode, payload []byte) {
	if c.g.gp.LongPoll {
		e.sendLP(c, payload, op == ws.OpText)
		return
	}
	mask := [4]byte{}
	r := e.rng.Uint32()
	mask[0], mask[1], mask[2], mask[3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
	e.wbuf = wire.AppendClientFrame(e.wbuf[:0], op, payload, mask)
	e.st.c.FramesOut++
	e.write(c, e.wbuf)
}

// sendClose writes a normal close frame without waiting for the answer.
func (e *engine) sendClose(c *client) {
	e.sendFrame(c, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
}

// write sends b now, queuing what the socket does not take.
func (e *engine) write(c *client, b []byte) {
	if c.fd < 0 {
		return
	}
	e.st.c.BytesOut += int64(len(b))
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return
	}
	n, err := unix.Write(c.fd, b)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		e.lost(c, "write:"+errnoName(err))
		return
	}
	n = max(n, 0)
	if n < len(b) {
		c.out = append(c.out, b[n:]...)
		_ = unix.EpollCtl(e.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: evRead | evWrite, Fd: int32(c.fd)})
	}
}

// flush writes queued bytes after EPOLLOUT.
func (e *engine) flush(c *client) {
	n, err := unix.Write(c.fd, c.out)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		e.lost(c, "write:"+errnoName(err))
		return
	}
	c.out = c.out[max(n, 0):]
	if len(c.out) == 0 {
		c.out = nil
		_ = unix.EpollCtl(e.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: evRead, Fd: int32(c.fd)})
	}
}

// closeFD closes a client's socket (closing also removes it from epoll).
func (e *engine) closeFD(c *client) {
	if c.lp != nil {
		e.closeLP(c)
		return
	}
	if c.fd < 0 {
		return
	}
	if c.state == stConnecting || c.state == stHandshaking {
		e.connecting--
		e.st.live.connecting.Add(-1)
	}
	if c.state == stOpen {
		e.st.live.open.Add(-1)
	}
	e.byFD[c.fd] = nil
	_ = unix.Close(c.fd)
	c.fd = -1
	c.in, c.out, c.frag = nil, nil, nil
	if c.deflate&dfTakeover != 0 {
		delete(e.window, c)
	}
}
