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
// buffer (one accept loop per serveCtx, so it is never shared), and the
// address is decoded from there into a peerAddr.
func (sv *serveCtx) accept4(lfd int) (int, peerAddr, error) {
	n := uint32(unsafe.Sizeof(sv.rsa))
	nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd),
		uintptr(unsafe.Pointer(&sv.rsa)), uintptr(unsafe.Pointer(&n)),
		unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, peerAddr{}, e
	}
	return int(nfd), peerFromRaw(&sv.rsa, n), nil
}

// peerFromRaw decodes a raw socket address as peerFromSockaddr decodes
// unix.Accept4's: IPv4 and IPv6 keep their address and port, anything
// else (a Unix socket) is unknown.
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
		p.ip, p.port, p.fam = a.Addr, portOf(a.Port), 6
	}
	return p
}

// portOf reads a port in network byte order.
func portOf(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
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
