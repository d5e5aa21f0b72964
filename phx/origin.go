package phx

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// OriginPolicy is Phoenix's check_origin: which web pages may open a socket.
// Requests without an Origin header (non-browser clients) always pass; an
// Origin that is not a URL with a host ("null" from a sandboxed frame or a
// file:// page) is refused unless AllowAll is set.
//
// The request's own Host header is never trusted: a page on evil.example
// whose name an attacker re-points at the server (DNS rebinding) sends
// Origin and Host both evil.example.
//
// NewServer checks the lists once and panics on an entry that names no
// host ("example.com" in Allowed parses as a path, not a host, and would
// otherwise match nothing or, worse, everything) or on a Hosts entry with a
// scheme, port or path: like a bad channel pattern, that is a programming
// error, and Phoenix raises for it too. At match time an empty host never
// matches anything.
type OriginPolicy struct {
	// AllowAll disables the check (check_origin: false).
	AllowAll bool
	// Hosts are the host names the server is reached by, as Phoenix checks
	// the Origin against its endpoint URL's host: an Origin whose host is
	// one of them passes, whatever its scheme and port. "*.example.com"
	// accepts the domain and its subdomains; "//example.com" (Phoenix's
	// form) is accepted too; IPv6 addresses may be bracketed.
	//
	// When Hosts, Allowed and Check are all empty (the zero policy), only
	// loopback origins pass: localhost, *.localhost, 127.0.0.0/8 and ::1,
	// on any port. A page served from the machine itself works out of the
	// box and no remote page does, rebound or not; a server reached by any
	// other name must list it.
	Hosts []string
	// Allowed lists accepted origins as Phoenix does: "https://example.com",
	// "//example.com" (any scheme), "//*.example.com" (the domain and its
	// subdomains), "https://example.com:8443". Parts left out match
	// anything. An Origin passes when it matches Hosts or Allowed.
	Allowed []string
	// Check, when set, decides alone; host is the request's Host header
	// (which a rebinding page controls: do not trust it alone).
	Check func(origin *url.URL, host string) bool
}

// validate reports the first entry of Hosts or Allowed that names no host
// (or, in Hosts, carries more than a host).
func (p *OriginPolicy) validate() error {
	for _, h := range p.Hosts {
		if err := validateHostEntry(h); err != nil {
			return err
		}
	}
	for _, a := range p.Allowed {
		u, err := url.Parse(strings.TrimSpace(a))
		if err != nil || !validPatternHost(u.Hostname()) {
			return fmt.Errorf("phx: OriginPolicy.Allowed entry %q names no host "+
				"(write //example.com, //*.example.com or https://example.com:8443)", a)
		}
		if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("phx: OriginPolicy.Allowed entry %q: an origin has no user, path or query", a)
		}
	}
	return nil
}

// validateHostEntry checks one Hosts entry: a host name, "*.domain", or an
// IP address (IPv6 bracketed or not), with Phoenix's optional leading "//".
func validateHostEntry(h string) error {
	raw := strings.TrimPrefix(strings.TrimSpace(h), "//")
	bad := func(why string) error {
		return fmt.Errorf("phx: OriginPolicy.Hosts entry %q %s (a Hosts entry is a bare host "+
			"such as example.com or *.example.com; put origins with a scheme or port in Allowed)", h, why)
	}
	switch {
	case strings.Contains(raw, "://"):
		return bad("has a scheme")
	case strings.ContainsAny(raw, "/?#@"):
		return bad("is not a host")
	}
	if inner, ok := strings.CutPrefix(raw, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); !ok || err != nil || !a.Is6() {
			return bad("has a port or is not an IPv6 address")
		}
		return nil
	}
	if strings.Contains(raw, ":") {
		if a, err := netip.ParseAddr(raw); err != nil || !a.Is6() {
			return bad("has a port")
		}
		return nil
	}
	if !validPatternHost(normalizeHost(raw)) {
		return bad("names no host")
	}
	return nil
}

// validPatternHost reports whether a host pattern names at least one
// host: not empty, and not a bare "*." or "*".
func validPatternHost(h string) bool {
	h = strings.TrimSuffix(h, ".")
	rest, wild := strings.CutPrefix(h, "*.")
	if wild {
		h = rest
	}
	return h != "" && !strings.Contains(h, "*")
}

// allows reports whether a request with this Origin and Host may connect.
func (p *OriginPolicy) allows(origin, host string) bool {
	if origin == "" || p.AllowAll {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if p.Check != nil {
		return p.Check(u, host)
	}
	if len(p.Hosts) == 0 && len(p.Allowed) == 0 {
		return isLoopbackHost(u.Hostname())
	}
	got := strings.ToLower(u.Hostname())
	for _, h := range p.Hosts {
		if hostMatches(normalizeHost(h), got) {
			return true
		}
	}
	for _, a := range p.Allowed {
		if originMatches(a, u) {
			return true
		}
	}
	return false
}

// isLoopbackHost reports whether host (a name or an IP, without port or
// brackets) can only designate the local machine: "localhost", a name
// under ".localhost" (browsers resolve those to loopback themselves), or a
// loopback IP address.
func isLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// normalizeHost turns a Hosts entry into a lower-case host pattern:
// without Phoenix's leading "//", IPv6 brackets or a trailing dot.
func normalizeHost(h string) string {
	h = strings.TrimPrefix(strings.TrimSpace(h), "//")
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// hostMatches compares a lower-case Origin host with a pattern
// ("*.example.com" matches example.com and its subdomains). An empty host
// or pattern (or a wildcard over nothing) matches nothing: it is never a
// wildcard.
func hostMatches(want, got string) bool {
	got = strings.TrimSuffix(got, ".")
	want = strings.TrimSuffix(want, ".")
	if got == "" || !validPatternHost(want) {
		return false
	}
	if rest, ok := strings.CutPrefix(want, "*."); ok {
		return got == rest || strings.HasSuffix(got, "."+rest)
	}
	return want == got
}

func originMatches(allowed string, u *url.URL) bool {
	a, err := url.Parse(allowed)
	if err != nil {
		return false
	}
	if a.Scheme != "" && !strings.EqualFold(a.Scheme, u.Scheme) {
		return false
	}
	if a.Port() != "" && a.Port() != effectivePort(u) {
		return false
	}
	return hostMatches(strings.ToLower(a.Hostname()), strings.ToLower(u.Hostname()))
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		return "443"
	case "http", "ws":
		return "80"
	}
	return ""
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}
