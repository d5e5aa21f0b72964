package netpoll

import (
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// peerAddr is a connection's remote address as accept4 returned it,
// kept in 20 bytes and formatted only when asked for.
type peerAddr struct {
	ip   [16]byte
	port uint16
	fam  uint8 // 0: unknown (a Unix socket), 4 or 6
}

func peerFromSockaddr(sa unix.Sockaddr) peerAddr {
	var p peerAddr
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		copy(p.ip[:], a.Addr[:])
		p.port, p.fam = uint16(a.Port), 4
	case *unix.SockaddrInet6:
		p.setIP6(a.Addr)
		p.port = uint16(a.Port)
	}
	return p
}

// setIP6 stores an IPv6 address; an IPv4-mapped one (an IPv4 peer of a
// dual-stack listener) is stored as IPv4, so that it is keyed by its own
// address and not by the /64 that all such peers share.
func (p *peerAddr) setIP6(a [16]byte) {
	if ip := netip.AddrFrom16(a); ip.Is4In6() {
		b := ip.Unmap().As4()
		p.ip = [16]byte{}
		copy(p.ip[:], b[:])
		p.fam = 4
		return
	}
	p.ip, p.fam = a, 6
}

func peerFromNetAddr(a net.Addr) peerAddr {
	var p peerAddr
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		ip := ap.Addr().Unmap()
		if ip.Is4() {
			b := ip.As4()
			copy(p.ip[:], b[:])
			p.fam = 4
		} else if ip.Is6() {
			p.ip, p.fam = ip.As16(), 6
		}
		p.port = ap.Port()
	}
	return p
}

// addrPort is the address (invalid for a Unix socket).
func (p *peerAddr) addrPort() netip.AddrPort {
	switch p.fam {
	case 4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(p.ip[:4])), p.port)
	case 6:
		return netip.AddrPortFrom(netip.AddrFrom16(p.ip), p.port)
	}
	return netip.AddrPort{}
}

// netAddr formats the address as net.Conn.RemoteAddr would.
func (p *peerAddr) netAddr() net.Addr {
	if ap := p.addrPort(); ap.IsValid() {
		return newTCPAddr(ap)
	}
	return &net.UnixAddr{Net: "unix"}
}

// tcpAddrBox holds a net.TCPAddr and the bytes of its IP: one allocation
// where net.TCPAddrFromAddrPort makes two.
type tcpAddrBox struct {
	a  net.TCPAddr
	ip [16]byte
}

// newTCPAddr is net.TCPAddrFromAddrPort(ap) for an address without a zone
// (an IPv4 address has a 4-byte IP, as there), in one allocation.
func newTCPAddr(ap netip.AddrPort) *net.TCPAddr {
	b := new(tcpAddrBox)
	ip := ap.Addr()
	if ip.Is4() {
		v := ip.As4()
		copy(b.ip[:], v[:])
		b.a.IP = b.ip[:4:4]
	} else {
		b.ip = ip.As16()
		b.a.IP = b.ip[:16:16]
	}
	b.a.Port = int(ap.Port())
	return &b.a
}

// key is the per-address limits' key: the IPv4 address or the IPv6 /64.
func (p *peerAddr) key() (netip.Addr, bool) {
	ap := p.addrPort()
	if !ap.IsValid() {
		return netip.Addr{}, false
	}
	ip := ap.Addr()
	if ip.Is6() {
		pf, _ := ip.Prefix(64)
		ip = pf.Addr()
	}
	return ip, ip.IsValid()
}

// takeFD takes a connection's socket over from a net.Conn: its fd is
// duplicated (dupFD) and nc closed, so one fd remains, ours.
func takeFD(nc net.Conn) (int, error) {
	fd, err := dupFD(nc)
	if err != nil {
		return -1, err
	}
	_ = nc.Close()
	return fd, nil
}

// dupFD duplicates the fd of x (a net.Conn or net.Listener) with
// F_DUPFD_CLOEXEC and makes the copy non-blocking (it shares the open file
// description, which Go's own sockets keep non-blocking anyway).
func dupFD(x any) (int, error) {
	sc, ok := x.(syscall.Conn)
	if !ok {
		return -1, ErrNotPollable
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := raw.Control(func(f uintptr) {
		fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// fdConn is the net.Conn of a plain-HTTP connection handed to net/http:
// an *os.File made from our fd (no dup; the fd is non-blocking, so Go's
// poller serves it and deadlines work), which owns and closes it.
type fdConn struct {
	f    *os.File
	peer peerAddr
}

func newFDConn(fd int32, peer peerAddr) *fdConn {
	return &fdConn{f: os.NewFile(uintptr(fd), "tcp"), peer: peer}
}

// Read and Write return errors as a net.Conn does (*net.OpError, a
// net.Error), not *os.PathError: net/http tells the timeout it causes to
// end its background read from a broken connection by net.Error, and
// takes any other error for a lost client, cancelling the contexts of
// every later request on that connection.
func (c *fdConn) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	return n, c.netErr("read", err)
}

func (c *fdConn) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	return n, c.netErr("write", err)
}

func (c *fdConn) netErr(op string, err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return &net.OpError{Op: op, Net: "tcp", Addr: c.peer.netAddr(), Err: pe.Err}
	}
	return err
}

func (c *fdConn) Close() error                       { return c.f.Close() }
func (c *fdConn) RemoteAddr() net.Addr               { return c.peer.netAddr() }
func (c *fdConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *fdConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *fdConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// LocalAddr asks the socket (getsockname): net/http reads it once per
// connection.
func (c *fdConn) LocalAddr() net.Addr {
	var sa unix.Sockaddr
	if rc, err := c.f.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { sa, _ = unix.Getsockname(int(fd)) })
	}
	if p := peerFromSockaddr(sa); p.fam != 0 {
		return p.netAddr()
	}
	return &net.UnixAddr{Net: "unix"}
}

// CloseWrite sends FIN (net/http's lingering close after an unread body).
func (c *fdConn) CloseWrite() error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	return serr
}
