package phx

import (
	"net"
	"net/url"
	"strings"
)

// OriginPolicy is Phoenix's check_origin. Requests without an Origin header
// (non-browser clients) always pass.
type OriginPolicy struct {
	// AllowAll disables the check (check_origin: false).
	AllowAll bool
	// Allowed lists accepted origins as Phoenix does: "https://example.com",
	// "//example.com" (any scheme), "//*.example.com" (the domain and its
	// subdomains), "https://example.com:8443". Parts left out match anything.
	Allowed []string
	// Check, when set, decides alone; host is the request's Host header.
	Check func(origin *url.URL, host string) bool
}

// allows reports whether a request with this Origin and Host may connect.
// With no list and no function, the Origin's host must equal the request
// host (ports are not compared, as in Phoenix's default).
func (p *OriginPolicy) allows(origin, host string) bool {
	if origin == "" || p.AllowAll {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	switch {
	case p.Check != nil:
		return p.Check(u, host)
	case len(p.Allowed) > 0:
		for _, a := range p.Allowed {
			if originMatches(a, u) {
				return true
			}
		}
		return false
	default:
		return strings.EqualFold(u.Hostname(), hostOnly(host))
	}
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
	want, got := strings.ToLower(a.Hostname()), strings.ToLower(u.Hostname())
	if rest, ok := strings.CutPrefix(want, "*."); ok {
		return got == rest || strings.HasSuffix(got, "."+rest)
	}
	return want == "" || want == got
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
