package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presence"
)

// dashServer serves phxd's mux with the dashboard mounted for args (phxd
// flags) and returns its URL, whether the dashboard is on and the log.
func dashServer(t *testing.T, args ...string) (url string, on bool, logs *bytes.Buffer) {
	t.Helper()
	o, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs = &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv := phx.NewServer(phx.Config{Logger: log})
	t.Cleanup(func() { _ = srv.Close() })
	pres, err := presence.New(srv, presence.Config{HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pres.Close() })
	mux := newMux(srv, log, "", "")
	closeDash, on := mountDashboard(mux, srv, pres, o, log)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(closeDash)
	return hs.URL, on, logs
}

// fetch GETs url, naming host in the request (when not empty) and with
// the header pairs hdr, and returns the status and the body.
func fetch(t *testing.T, url, host string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With the default flags (a loopback -addr, no key) the dashboard serves
// loopback requests only, and /dashboard redirects to /dashboard/.
func TestDashboardDefaultLoopback(t *testing.T) {
	t.Setenv(dashboardKeyEnv, "")
	url, on, _ := dashServer(t)
	if !on {
		t.Fatal("dashboard off with the default flags")
	}
	if code, body := fetch(t, url+"/dashboard", ""); code != http.StatusOK || !strings.Contains(body, `id="sockets"`) {
		t.Errorf("GET /dashboard: %d, want the page (after a redirect)", code)
	}
	if code, _ := fetch(t, url+"/dashboard/api/snapshot", "evil.example:4000"); code != http.StatusForbidden {
		t.Errorf("a request naming another host: %d, want 403", code)
	}
}

// On a non-loopback -addr without a key the dashboard is not mounted;
// with PHXD_DASHBOARD_KEY it is, behind the key, which never reaches the
// log.
func TestDashboardNonLoopback(t *testing.T) {
	t.Setenv(dashboardKeyEnv, "")
	url, on, logs := dashServer(t, "-addr", "0.0.0.0:0")
	if on {
		t.Fatal("dashboard on for 0.0.0.0 without a key")
	}
	if code, body := fetch(t, url+"/dashboard/api/snapshot", ""); code == http.StatusOK || strings.Contains(body, `"sockets"`) {
		t.Errorf("GET /dashboard/api/snapshot with the dashboard off: %d", code)
	}
	if !strings.Contains(logs.String(), dashboardKeyEnv) {
		t.Errorf("the log does not say how to turn it on:\n%s", logs)
	}

	const key = "a-dashboard-key-for-tests-0123456789"
	t.Setenv(dashboardKeyEnv, key)
	url, on, logs = dashServer(t, "-addr", "0.0.0.0:0")
	if !on {
		t.Fatal("dashboard off with a key")
	}
	if code, _ := fetch(t, url+"/dashboard/api/snapshot", ""); code != http.StatusUnauthorized {
		t.Errorf("without the key: %d, want 401", code)
	}
	if code, _ := fetch(t, url+"/dashboard/api/snapshot", "", "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong key: %d, want 401", code)
	}
	if code, body := fetch(t, url+"/dashboard/api/snapshot", "other.example", "Authorization", "Bearer "+key); code != http.StatusOK || !strings.Contains(body, `"sockets"`) {
		t.Errorf("with the key: %d %.100s", code, body)
	}
	note := dashboardNote(&net.TCPAddr{IP: net.IPv4zero, Port: 4000})
	if !strings.Contains(note, "http://127.0.0.1:4000/dashboard/ ") || strings.Contains(note+logs.String(), key) {
		t.Errorf("start-up note %q (or the log) is wrong or shows the key", note)
	}
}

// -dashboard=false turns it off whatever the address.
func TestDashboardOff(t *testing.T) {
	url, on, _ := dashServer(t, "-dashboard=false")
	if code, body := fetch(t, url+"/dashboard/api/snapshot", ""); on || code == http.StatusOK && strings.Contains(body, `"sockets"`) {
		t.Errorf("-dashboard=false: on=%v, %d", on, code)
	}
}

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:4000": true, "[::1]:4000": true, "localhost:0": true,
		"0.0.0.0:4000": false, ":4000": false, "[::]:4000": false, "192.0.2.1:4000": false, "bad": false} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v", addr, got)
		}
	}
}
