package main

import (
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/dashboard"
	"github.com/phxgo/phxgo/phx/presence"
)

// dashboardKeyEnv names the environment variable holding the dashboard's
// key (an environment variable, not a flag, so that it shows neither in
// ps nor in shell history).
const dashboardKeyEnv = "PHXD_DASHBOARD_KEY"

// dashboardPath is where the dashboard is mounted on phxd's listener.
const dashboardPath = "/dashboard/"

// defineDashboardFlags adds the dashboard's flags to fs.
func defineDashboardFlags(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.dashboard, "dashboard", true, "serve the live dashboard at /dashboard/ on the -addr listener: without "+dashboardKeyEnv+" only when -addr is a loopback address, and only to loopback requests naming a loopback host; with "+dashboardKeyEnv+" set, on any address, to requests carrying that key (Authorization: Bearer, or the login form's cookie)")
	fs.IntVar(&o.dashStreams, "dashboard-streams", dashboard.DefaultMaxStreams, "most live dashboard streams open at once; more browsers fall back to polling once a second")
}

// mountDashboard mounts the dashboard on mux as the flags and the
// environment say, logs how it is protected and returns its Close (a no-op
// when it is off) and whether it is on.
func mountDashboard(mux *http.ServeMux, srv *phx.Server, pres *presence.Presence, o *options, log *slog.Logger) (closeFn func(), on bool) {
	if !o.dashboard {
		log.Info("dashboard is off (-dashboard=false)")
		return func() {}, false
	}
	opts := []dashboard.Option{dashboard.WithPresence(pres), dashboard.WithMaxStreams(o.dashStreams)}
	key := strings.TrimSpace(os.Getenv(dashboardKeyEnv))
	switch {
	case key != "":
		if len(key) < minAPIKey {
			log.Warn(dashboardKeyEnv+" is short: use at least 32 random characters", "length", len(key))
		}
		opts = append(opts, dashboard.WithKey(key))
	case loopbackAddr(o.addr):
		opts = append(opts, dashboard.LoopbackOnly())
	default:
		log.Info("dashboard is off: -addr is not a loopback address; set " + dashboardKeyEnv + " to serve it behind a key")
		return func() {}, false
	}
	d := dashboard.New(srv, opts...)
	mux.Handle(dashboardPath, d) // GET /dashboard redirects here
	return func() { _ = d.Close() }, true
}

// dashboardNote is the start-up line that gives the dashboard's URL.
func dashboardNote(addr net.Addr) string {
	note := "phxd dashboard: open " + strings.TrimSuffix(demoURL(addr), "/") + dashboardPath + " "
	if strings.TrimSpace(os.Getenv(dashboardKeyEnv)) != "" {
		return note + "(log in with " + dashboardKeyEnv + ")"
	}
	return note + "(loopback only)"
}

// loopbackAddr reports whether a listen address names only this machine.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
