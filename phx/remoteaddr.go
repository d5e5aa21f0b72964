package phx

import "net/netip"

// peerString formats a remote address for a log line: "" when there is
// none.
func peerString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return ap.String()
}
