package main

import (
	"net"
	"net/netip"
)

// demoURL is the address of the demo page for a listener bound to addr. A
// wildcard address (0.0.0.0, [::]) becomes 127.0.0.1, which a browser on
// this machine can open: Go listens on both IPv4 and IPv6 for either.
func demoURL(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ap.Addr().Unmap().IsUnspecified() {
		ap = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port())
	}
	return "http://" + ap.String() + "/"
}
