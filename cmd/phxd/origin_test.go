package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOriginFlag(t *testing.T) {
	for _, tc := range []struct {
		flag, addr     string
		hosts, allowed []string
		all            bool
	}{
		{flag: "", addr: "127.0.0.1:4000", hosts: []string{"localhost", "127.0.0.1", "[::1]"}},
		{flag: "", addr: "[::1]:4000", hosts: []string{"localhost", "127.0.0.1", "[::1]"}},
		{flag: "", addr: "LocalHost:4000", hosts: []string{"localhost", "127.0.0.1", "[::1]"}},
		{flag: "", addr: "devbox.lan:4000", hosts: []string{"localhost", "127.0.0.1", "[::1]", "devbox.lan"}},
		{flag: "", addr: "192.168.1.5:4000", hosts: []string{"localhost", "127.0.0.1", "[::1]", "192.168.1.5"}},
		{flag: "", addr: "0.0.0.0:4000", hosts: []string{"localhost", "127.0.0.1", "[::1]"}},
		{flag: "", addr: ":4000", hosts: []string{"localhost", "127.0.0.1", "[::1]"}},
		{flag: "", addr: "[::]:4000", hosts: []string{"localhost", "127.0.0.1", "[::1]"}},
		{flag: "*", all: true},
		{flag: "example.com", hosts: []string{"example.com"}},
		{flag: " //example.com, *.example.org ,//*.example.net,", hosts: []string{"example.com", "*.example.org", "*.example.net"}},
		{flag: "https://example.com:8443,//example.com:8080,http://example.com", allowed: []string{"https://example.com:8443", "//example.com:8080", "http://example.com"}},
		{flag: "[::1],10.0.0.1", hosts: []string{"::1", "10.0.0.1"}},
	} {
		p, err := originPolicy(tc.flag, tc.addr)
		if err != nil {
			t.Fatalf("-check-origin %q: %v", tc.flag, err)
		}
		if p.AllowAll != tc.all || !slices.Equal(p.Hosts, tc.hosts) || !slices.Equal(p.Allowed, tc.allowed) {
			t.Fatalf("-check-origin %q -addr %q: %+v, want hosts %q allowed %q all %v", tc.flag, tc.addr, p, tc.hosts, tc.allowed, tc.all)
		}
	}
	for _, bad := range []string{",", "example.com,*", "https://example.com/path", "a*b.example.com", "*.*.x", "user@host", "//", "http://"} {
		if _, err := originPolicy(bad, "127.0.0.1:4000"); err == nil {
			t.Fatalf("-check-origin %q accepted", bad)
		}
	}
	if _, err := parseFlags([]string{"-check-origin", "https://x/y"}, io.Discard); err == nil {
		t.Fatal("parseFlags accepted a bad -check-origin")
	}
}

// startPhxd runs phxd's server in-process on a loopback port with these
// flags (TLS with -tls-cert/-tls-key) and returns its address.
func startPhxd(t *testing.T, args ...string) string {
	t.Helper()
	o, err := parseFlags(append([]string{"-addr", "127.0.0.1:0"}, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := loadTLS(o)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, presence, err := newServer(o, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serve(srv, ln, newMux(srv, log, o.phoenixJS, ""), cfg) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
		_ = presence.Close()
	})
	return ln.Addr().String()
}

// upgradeStatus sends a WebSocket upgrade with this Host and Origin and
// returns the response's status code.
func upgradeStatus(t *testing.T, addr, host, origin string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /socket/websocket?token=user:ann&vsn=2.0.0 HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	if origin != "" {
		req += "Origin: " + origin + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// longpollStatus opens a LongPoll session with this Host and Origin and
// returns phoenix.js's view: the JSON "status" of the answer.
func longpollStatus(t *testing.T, addr, host, origin string) string {
	t.Helper()
	_, s := fetch(t, "http://"+addr+"/socket/longpoll?token=user:ann&vsn=2.0.0", host, "Origin", origin)
	if i := strings.Index(s, `"status":`); i >= 0 {
		s = s[i+len(`"status":`):]
		return s[:strings.IndexAny(s, ",}")]
	}
	return s
}

// DNS rebinding (hole 6 of issue 10): a page on evil.example, its name now
// resolving to the server, sends Origin and Host both evil.example. phxd
// refuses it by default and with -check-origin, on both transports, and
// accepts the local page and the configured hosts.
func TestOriginRebinding(t *testing.T) {
	local := startPhxd(t)
	_, port, _ := net.SplitHostPort(local)
	for _, tc := range []struct {
		host, origin string
		ws           int
		lp           string
	}{
		{"evil.example:" + port, "http://evil.example:" + port, 403, "403"},
		{"127.0.0.1:" + port, "http://evil.example", 403, "403"},
		{"127.0.0.1:" + port, "http://127.0.0.1:" + port, 101, "410"}, // the demo page's own origin
		{"localhost:" + port, "http://localhost:" + port, 101, "410"},
		{"127.0.0.1:" + port, "", 101, "410"}, // not a browser
	} {
		if got := upgradeStatus(t, local, tc.host, tc.origin); got != tc.ws {
			t.Errorf("default flags, Host %s Origin %q: WebSocket upgrade %d, want %d", tc.host, tc.origin, got, tc.ws)
		}
		if got := longpollStatus(t, local, tc.host, tc.origin); got != tc.lp {
			t.Errorf("default flags, Host %s Origin %q: LongPoll status %s, want %s", tc.host, tc.origin, got, tc.lp)
		}
	}

	prod := startPhxd(t, "-check-origin", "app.example,*.cdn.example")
	for _, tc := range []struct {
		host, origin string
		ws           int
	}{
		{"evil.example", "https://evil.example", 403},
		{"app.example.evil.example", "https://app.example.evil.example", 403},
		{"localhost", "http://localhost", 403}, // an explicit list is all there is
		{"app.example", "https://app.example", 101},
		{"internal:4000", "https://app.example", 101}, // behind a proxy
		{"eu.cdn.example", "https://eu.cdn.example", 101},
		{"cdn.example", "http://cdn.example:8080", 101},
	} {
		if got := upgradeStatus(t, prod, tc.host, tc.origin); got != tc.ws {
			t.Errorf("-check-origin app.example,*.cdn.example, Host %s Origin %q: WebSocket upgrade %d, want %d", tc.host, tc.origin, got, tc.ws)
		}
	}
}
