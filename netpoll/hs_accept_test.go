package netpoll

import (
	"net"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestNoDelayEverySocket: sockets accepted while the queue still held
// connections from before Serve (option set on each) and after it drained
// (option inherited from the listener, checked once) all have Nagle off.
func TestNoDelayEverySocket(t *testing.T) {
	rec := newRecorder(false)
	s, ln := listenServer(t, Config{})
	early := make([]net.Conn, 3) // queued before Serve runs
	for i := range early {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		early[i] = c
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln, acceptAll(rec), nil) }()
	defer func() {
		_ = s.Close()
		<-served
	}()
	for i := range 6 {
		if i >= len(early) {
			_ = dial(t, ln.Addr().String()) // one at a time: the queue drains in between
		} else {
			wrapClient(t, early[i]).write([]byte(upgradeRequest("/")))
		}
		c := rec.waitOpen(t)
		if v, err := unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
			t.Fatalf("socket %d: TCP_NODELAY = %d, %v; want on", i, v, err)
		}
	}
}

// TestPeerFromRaw: the raw accept's address decoding matches unix.Accept4's.
func TestPeerFromRaw(t *testing.T) {
	for _, sa := range []unix.Sockaddr{
		&unix.SockaddrInet4{Port: 40123, Addr: [4]byte{127, 0, 0, 2}},
		&unix.SockaddrInet6{Port: 443, Addr: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}},
		&unix.SockaddrInet6{Port: 8080, Addr: [16]byte{10: 0xff, 11: 0xff, 12: 10, 15: 7}},
	} {
		var rsa unix.RawSockaddrAny
		var n uint32
		switch a := sa.(type) {
		case *unix.SockaddrInet4:
			r := (*unix.RawSockaddrInet4)(unsafePointer(&rsa))
			r.Family, r.Addr = unix.AF_INET, a.Addr
			r.Port = htons(uint16(a.Port))
			n = unix.SizeofSockaddrInet4
		case *unix.SockaddrInet6:
			r := (*unix.RawSockaddrInet6)(unsafePointer(&rsa))
			r.Family, r.Addr = unix.AF_INET6, a.Addr
			r.Port = htons(uint16(a.Port))
			n = unix.SizeofSockaddrInet6
		}
		if got, want := peerFromRaw(&rsa, n), peerFromSockaddr(sa); got != want {
			t.Fatalf("%v: %+v, want %+v", sa, got, want)
		}
	}
	// An IPv4 peer of a dual-stack listener comes as IPv4-mapped IPv6; it
	// is kept as IPv4.
	var rsa unix.RawSockaddrAny
	r := (*unix.RawSockaddrInet6)(unsafePointer(&rsa))
	r.Family, r.Addr, r.Port = unix.AF_INET6, [16]byte{10: 0xff, 11: 0xff, 12: 10, 15: 7}, htons(8080)
	want := peerAddr{ip: [16]byte{10, 0, 0, 7}, port: 8080, fam: 4}
	if got := peerFromRaw(&rsa, unix.SizeofSockaddrInet6); got != want {
		t.Fatalf("v4-mapped: %+v, want %+v", got, want)
	}
	if got := peerFromSockaddr(&unix.SockaddrInet6{Port: 8080, Addr: r.Addr}); got != want {
		t.Fatalf("v4-mapped (Accept4): %+v, want %+v", got, want)
	}
	var unixAddr unix.RawSockaddrAny
	unixAddr.Addr.Family = unix.AF_UNIX
	if got := peerFromRaw(&unixAddr, 2); got != (peerAddr{}) {
		t.Fatalf("unix socket: %+v", got)
	}
}

func unsafePointer(rsa *unix.RawSockaddrAny) unsafe.Pointer { return unsafe.Pointer(rsa) }

// htons is a port in network byte order, as the kernel writes it.
func htons(p uint16) uint16 {
	var v uint16
	b := (*[2]byte)(unsafe.Pointer(&v))
	b[0], b[1] = byte(p>>8), byte(p)
	return v
}
