package netpoll

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// accept4 accepts one connection on the listener fd lfd (non-blocking,
// close-on-exec) and returns its peer address. Unlike unix.Accept4 it
// allocates nothing: the kernel writes the address into the serveCtx's
// buffer (one accept task at a time per serveCtx, under acceptor.mu, so
// it is never shared), and the
// address is decoded from there into a peerAddr. It runs on a worker
// (acceptloop.go) on a non-blocking listener, so it is made raw, without
// the runtime's syscall bookkeeping, like the loop's other calls
// (rawsys.go).
func (sv *serveCtx) accept4(lfd int) (int, peerAddr, error) {
	n := uint32(unsafe.Sizeof(sv.rsa))
	nfd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd),
		uintptr(unsafe.Pointer(&sv.rsa)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, peerAddr{}, e
	}
	return int(nfd), peerFromRaw(&sv.rsa, n), nil
}

// peerFromRaw decodes a raw socket address as peerFromSockaddr decodes
// unix.Accept4's: IPv4 and IPv6 keep their address and port (an
// IPv4-mapped IPv6 address becomes IPv4), anything else (a Unix socket)
// is unknown.
func peerFromRaw(rsa *unix.RawSockaddrAny, n uint32) peerAddr {
	var p peerAddr
	switch rsa.Addr.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return p
		}
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		copy(p.ip[:], a.Addr[:])
		p.port, p.fam = portOf(a.Port), 4
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return p
		}
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p.setIP6(a.Addr)
		p.port = portOf(a.Port)
	}
	return p
}

// portOf reads a port in network byte order.
func portOf(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// Nagle's algorithm is turned off on every accepted socket (see accept).
// Linux copies TCP_NODELAY from the listening socket to the sockets it
// accepts, so it is set once on the listener, and per accepted socket only
// until the accept queue was found empty once (a socket queued before the
// listener had the option lacks it) and unless the first one after that,
// checked, shows it was not inherited. serveCtx.nodelay holds the state;
// only the accept task touches it.
const (
	ndSet       uint8 = iota // set it on each accepted socket
	ndListener               // the listener has it; set it until the queue drains
	ndCheck                  // the queue drained: check the next socket
	ndInherited              // inherited: nothing to do
)

// listenerNoDelay sets TCP_NODELAY on the listening socket lfd, once.
func (sv *serveCtx) listenerNoDelay(lfd int) {
	if sv.nodelay == ndSet && !sv.ndTried {
		sv.ndTried = true
		if unix.SetsockoptInt(lfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) == nil {
			sv.nodelay = ndListener
		}
	}
}

// acceptDrained is told that accept4 found the queue empty.
func (sv *serveCtx) acceptDrained() {
	if sv.nodelay == ndListener {
		sv.nodelay = ndCheck
	}
}

// noDelay makes sure the accepted socket fd has Nagle's algorithm off. It
// fails harmlessly on a non-TCP socket.
func (sv *serveCtx) noDelay(fd int) {
	switch sv.nodelay {
	case ndInherited:
		return
	case ndCheck:
		if v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err == nil && v != 0 {
			sv.nodelay = ndInherited
			return
		}
		sv.nodelay = ndSet // not inherited here: set it every time
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// AddrPort is the peer's IP address and port, read from RemoteAddr
// without allocating; invalid when RemoteAddr is not a *net.TCPAddr (a
// Unix socket, or a request made by hand without one). An IPv4 peer
// is IPv4, not IPv4-mapped.
func (r *UpgradeRequest) AddrPort() netip.AddrPort {
	ta, ok := r.RemoteAddr.(*net.TCPAddr)
	if !ok || ta == nil {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
