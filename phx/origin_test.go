package phx

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestOriginPolicy(t *testing.T) {
	app := OriginPolicy{Hosts: []string{"app.test"}}
	cases := []struct {
		name   string
		policy OriginPolicy
		origin string
		want   bool
	}{
		{"no origin", OriginPolicy{}, "", true},
		// the zero policy: loopback pages only, whatever the request's Host
		{"default: Host's own name refused", OriginPolicy{}, "http://example.com:8080", false},
		{"default: other host", OriginPolicy{}, "http://evil.com", false},
		{"default: localhost", OriginPolicy{}, "http://localhost:3000", true},
		{"default: sub.localhost", OriginPolicy{}, "http://dev.localhost", true},
		{"default: 127.0.0.1", OriginPolicy{}, "http://127.0.0.1:4000", true},
		{"default: 127.0.0.2", OriginPolicy{}, "http://127.0.0.2", true},
		{"default: ::1", OriginPolicy{}, "http://[::1]:4000", true},
		{"default: mapped loopback", OriginPolicy{}, "http://[::ffff:127.0.0.1]", true},
		{"default: localhost lookalike", OriginPolicy{}, "http://localhost.evil.com", false},
		{"default: private address", OriginPolicy{}, "http://192.168.1.2", false},
		{"default: unspecified address", OriginPolicy{}, "http://0.0.0.0:4000", false},
		{"default: null origin", OriginPolicy{}, "null", false},
		{"default: file origin", OriginPolicy{}, "file://", false},
		// Hosts: the server's names, any scheme and port
		{"hosts: match", app, "https://app.test", true},
		{"hosts: any port and scheme", app, "http://APP.test:8443", true},
		{"hosts: other", app, "https://evil.test", false},
		{"hosts: suffix is not a subdomain", app, "https://evilapp.test", false},
		{"hosts: subdomain needs a wildcard", app, "https://a.app.test", false},
		{"hosts: loopback no longer implied", app, "http://localhost", false},
		{"hosts: wildcard subdomain", OriginPolicy{Hosts: []string{"*.app.test"}}, "https://a.b.app.test", true},
		{"hosts: wildcard apex", OriginPolicy{Hosts: []string{"*.app.test"}}, "https://app.test", true},
		{"hosts: wildcard other", OriginPolicy{Hosts: []string{"*.app.test"}}, "https://evilapp.test", false},
		{"hosts: phoenix form", OriginPolicy{Hosts: []string{"//app.test"}}, "https://app.test", true},
		{"hosts: phoenix wildcard", OriginPolicy{Hosts: []string{"//*.app.test"}}, "https://x.app.test", true},
		{"hosts: bracketed v6", OriginPolicy{Hosts: []string{"[::1]"}}, "http://[::1]:4000", true},
		{"hosts: bare v6", OriginPolicy{Hosts: []string{"::1"}}, "http://[::1]:4000", true},
		{"hosts: empty entry", OriginPolicy{Hosts: []string{""}}, "http://x", false},
		{"hosts or allowed", OriginPolicy{Hosts: []string{"a.test"}, Allowed: []string{"https://b.test"}}, "https://b.test", true},
		// Allowed: Phoenix's check_origin list
		{"allow all", OriginPolicy{AllowAll: true}, "http://evil.com", true},
		{"list any scheme", OriginPolicy{Allowed: []string{"//app.test"}}, "https://app.test", true},
		{"list scheme mismatch", OriginPolicy{Allowed: []string{"https://app.test"}}, "http://app.test", false},
		{"wildcard subdomain", OriginPolicy{Allowed: []string{"//*.app.test"}}, "https://a.b.app.test", true},
		{"wildcard apex", OriginPolicy{Allowed: []string{"//*.app.test"}}, "https://app.test", true},
		{"wildcard other", OriginPolicy{Allowed: []string{"//*.app.test"}}, "https://evilapp.test", false},
		{"port", OriginPolicy{Allowed: []string{"https://app.test:8443"}}, "https://app.test:8443", true},
		{"port default mismatch", OriginPolicy{Allowed: []string{"https://app.test:8443"}}, "https://app.test", false},
		{"list: loopback no longer implied", OriginPolicy{Allowed: []string{"//app.test"}}, "http://127.0.0.1", false},
		{"custom", OriginPolicy{Check: func(u *url.URL, _ string) bool { return u.Host == "x" }}, "http://x", true},
		{"garbage", OriginPolicy{}, "::::", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.policy.allows(tc.origin, "example.com:4000"); got != tc.want {
				t.Fatalf("allows(%q) = %v, want %v", tc.origin, got, tc.want)
			}
		})
	}
}

// DNS rebinding (hole 6 of issue 10): a page on evil.example whose name
// now resolves to the server sends Origin and Host both evil.example. The
// connect is refused with 403 before Connect runs, under the default policy
// and under a configured one; the configured host and its subdomains (with
// a wildcard) pass.
func TestOriginRebindingRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy OriginPolicy
		host   string
		origin string
		status int
	}{
		{"default policy, rebinding", OriginPolicy{}, "evil.example:4000", "http://evil.example:4000", http.StatusForbidden},
		{"default policy, local page", OriginPolicy{}, "localhost:4000", "http://localhost:4000", 0},
		{"configured, rebinding", OriginPolicy{Hosts: []string{"app.example"}}, "evil.example", "http://evil.example", http.StatusForbidden},
		{"configured host", OriginPolicy{Hosts: []string{"app.example"}}, "app.example", "https://app.example", 0},
		{"configured host behind a proxy", OriginPolicy{Hosts: []string{"app.example"}}, "10.0.0.5:4000", "https://app.example", 0},
		{"wildcard subdomain", OriginPolicy{Hosts: []string{"*.app.example"}}, "eu.app.example", "https://eu.app.example", 0},
		{"wildcard, rebinding", OriginPolicy{Hosts: []string{"*.app.example"}}, "app.example.evil", "https://app.example.evil", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			srv := newServerForTest(t, Config{Origin: tc.policy, RejectBrake: -1,
				Connect: func(ctx context.Context, info *ConnectInfo) (Assigns, error) {
					called = true
					return testConnect(ctx, info)
				}})
			req := upgradeReq("token=good&vsn=2.0.0", http.Header{"Origin": {tc.origin}})
			req.Host = tc.host
			res := srv.handleUpgrade(req)
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d", res.Status, tc.status)
			}
			if called != (tc.status == 0) {
				t.Fatalf("Connect called: %v", called)
			}
		})
	}
}

// An Allowed entry without "//" ("example.com") parses as a path with an
// empty host. It must never act as a wildcard: at match time it matches
// nothing, and NewServer refuses it outright.
func TestOriginEmptyHostNeverWildcard(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy OriginPolicy
		origin string
	}{
		{"allowed without //", OriginPolicy{Allowed: []string{"example.com"}}, "https://evil.test"},
		{"allowed without //, same name", OriginPolicy{Allowed: []string{"example.com"}}, "https://example.com"},
		{"allowed scheme only", OriginPolicy{Allowed: []string{"https://"}}, "https://evil.test"},
		{"allowed bare wildcard", OriginPolicy{Allowed: []string{"//*."}}, "https://evil.test"},
		{"allowed wildcard, origin without host", OriginPolicy{Allowed: []string{"//*."}}, "http://:80"},
		{"hosts bare wildcard", OriginPolicy{Hosts: []string{"*."}}, "http://:80"},
		{"hosts star", OriginPolicy{Hosts: []string{"*"}}, "https://evil.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.policy.allows(tc.origin, "example.com") {
				t.Fatalf("allows(%q) = true", tc.origin)
			}
		})
	}
}

// NewServer panics on an Origin entry that names no host, or a Hosts entry
// carrying a scheme, port or path, and names the entry; valid lists build.
func TestOriginPolicyValidatedAtNewServer(t *testing.T) {
	bad := []OriginPolicy{
		{Allowed: []string{"example.com"}},
		{Allowed: []string{"https://"}},
		{Allowed: []string{"//*."}},
		{Allowed: []string{"https://example.com/app"}},
		{Allowed: []string{"//ok.test", "example.com"}},
		{Hosts: []string{""}},
		{Hosts: []string{"*"}},
		{Hosts: []string{"https://example.com"}},
		{Hosts: []string{"example.com:8443"}},
		{Hosts: []string{"[::1]:4000"}},
		{Hosts: []string{"example.com/app"}},
		{Check: func(*url.URL, string) bool { return true }, Allowed: []string{"example.com"}},
	}
	for _, p := range bad {
		func() {
			defer func() {
				v := recover()
				err, ok := v.(error)
				if !ok || !strings.Contains(err.Error(), "OriginPolicy") {
					t.Fatalf("NewServer(%+v) recovered %v, want a panic naming the bad entry", p, v)
				}
			}()
			NewServer(Config{Origin: p, Logger: testLogger()})
		}()
	}
	good := []OriginPolicy{
		{},
		{AllowAll: true},
		{Hosts: []string{"example.com", "//example.com", "*.example.com", "//*.example.com",
			"127.0.0.1", "::1", "[::1]", "Example.COM."}},
		{Allowed: []string{"//example.com", "https://example.com", "https://example.com:8443",
			"//*.example.com", "https://example.com/", "http://[::1]:4000"}},
	}
	for _, p := range good {
		srv := NewServer(Config{Origin: p, Logger: testLogger()})
		_ = srv.Close()
	}
}
