package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/phxgo/phxgo/phx"
)

// defaultOriginHosts are the hosts whose pages may connect when
// -check-origin is not given: the local machine's names, which no remote
// page can take over by DNS rebinding.
var defaultOriginHosts = []string{"localhost", "127.0.0.1", "[::1]"}

// originPolicy turns -check-origin into the socket's check_origin policy.
// Empty: defaultOriginHosts plus the -addr host when it names one machine
// (a host name or a specific IP, not 0.0.0.0). "*" turns the check off.
// Otherwise a comma-separated list, in Phoenix's forms:
//
//	example.com, //example.com      that host, any scheme and port
//	*.example.com, //*.example.com  the domain and its subdomains
//	https://example.com:8443        that exact scheme, host and port
//	//example.com:8443              that host and port, any scheme
func originPolicy(flagValue, addr string) (phx.OriginPolicy, error) {
	flagValue = strings.TrimSpace(flagValue)
	switch flagValue {
	case "":
		hosts := append([]string(nil), defaultOriginHosts...)
		if h := addrHost(addr); h != "" && !slices.ContainsFunc(hosts, func(d string) bool {
			return strings.EqualFold(strings.Trim(d, "[]"), strings.Trim(h, "[]"))
		}) {
			hosts = append(hosts, h)
		}
		return phx.OriginPolicy{Hosts: hosts}, nil
	case "*":
		return phx.OriginPolicy{AllowAll: true}, nil
	}
	var p phx.OriginPolicy
	for _, e := range strings.Split(flagValue, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "*" {
			return p, fmt.Errorf("-check-origin: %q turns the check off and must be alone", e)
		}
		full := e
		if !strings.Contains(e, "://") && !strings.HasPrefix(e, "//") {
			full = "//" + e
		}
		u, err := url.Parse(full)
		if err != nil || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return p, fmt.Errorf("-check-origin: %q is not a host or an origin (e.g. example.com, *.example.com, https://example.com:8443)", e)
		}
		if strings.Contains(strings.TrimPrefix(u.Hostname(), "*."), "*") {
			return p, fmt.Errorf("-check-origin: %q: a wildcard may only start a host (*.example.com)", e)
		}
		if u.Scheme != "" || u.Port() != "" {
			p.Allowed = append(p.Allowed, full)
		} else {
			p.Hosts = append(p.Hosts, u.Hostname())
		}
	}
	if len(p.Hosts) == 0 && len(p.Allowed) == 0 {
		return p, fmt.Errorf("-check-origin: no host in %q", flagValue)
	}
	return p, nil
}

// addrHost returns the host of a listen address when it names one
// machine: a host name, or an IP that is not unspecified. "" otherwise.
func addrHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsUnspecified() {
		return ""
	}
	return host
}

// describeOrigins is the policy as logged at start.
func describeOrigins(p phx.OriginPolicy) string {
	if p.AllowAll {
		return "any (check off)"
	}
	return strings.Join(append(append([]string(nil), p.Hosts...), p.Allowed...), ",")
}
