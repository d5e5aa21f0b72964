// Command phxd serves the phxgo example app: a Phoenix Channels socket at
// /socket that unmodified phoenix.js clients use as they would an Elixir
// Phoenix backend, a demo page at /, /healthz, /metrics and, when
// PHXD_API_KEY is set, POST /api/broadcast.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presence"
)

type options struct {
	addr         string
	tlsCert      string // -tls-cert, -tls-key: tls.go
	tlsKey       string
	joinDeadline time.Duration
	rejectBrake  time.Duration
	rejectMode   string
	idleTimeout  time.Duration
	maxFrame     int64
	maxConns     int
	writeQueue   int
	drainTimeout time.Duration
	logFormat    string
	logLevel     string
	presenceWin  time.Duration
	presenceMaxW time.Duration
	phoenixJS    string
	pprofAddr    string
	lpWindow     time.Duration
	lpIdle       time.Duration
	checkOrigin  string
	origin       phx.OriginPolicy // parsed checkOrigin
	memRelease   time.Duration
	memMinMiB    int
	compress     bool // -compress (compress.go)

	// Per-client limits (production hardening).
	maxConnsPerIP  int
	connRatePerIP  float64
	connBurstPerIP int
	maxBody        int64
	httpRead       time.Duration
	httpWrite      time.Duration
	pauseTimeout   time.Duration
	lpMaxSessions  int
	maxInbound     int
	maxInboundMiB  int

	// Several nodes (see cluster.go).
	redisURL      string
	redisCluster  bool
	node          string
	presenceBeat  time.Duration
	presenceNodeT time.Duration
	phoenixPubSub string // -phoenix-pubsub (phoenixpubsub.go)

	dashboard   bool // -dashboard and -dashboard-streams (dashboard.go)
	dashStreams int
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := applyFlagRule(fs); err != nil {
		return nil, err
	}
	if o.rejectMode != "frame" && o.rejectMode != "http" {
		return nil, fmt.Errorf("-reject-mode must be frame or http, got %q", o.rejectMode)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := checkClusterFlags(o); err != nil {
		return nil, err
	}
	if err := checkPhoenixFlags(o); err != nil {
		return nil, err
	}
	var err error
	if o.origin, err = originPolicy(o.checkOrigin, o.addr); err != nil {
		return nil, err
	}
	return o, nil
}

// newFlagSet defines phxd's flags, stored in o.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("phxd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:4000", "listen address (port 0 picks a free port)")
	fs.DurationVar(&o.joinDeadline, "join-deadline", 30*time.Second, "close sockets that join no channel within this (negative disables)")
	fs.DurationVar(&o.rejectBrake, "reject-brake", 10*time.Second, "after a rejected connect, answer the same client's retries with HTTP 429 before the upgrade for this long; a client is its address (IPv6: its /64) plus its token param and auth token (or, without those, its Cookie and Authorization headers), never other query params; an address with 20 rejections in one window is braked whatever it sends (negative disables)")
	fs.StringVar(&o.rejectMode, "reject-mode", "frame", "how refused connects are answered: frame (phx_connect_error + close code) or http (403, as Phoenix)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", 60*time.Second, "close sockets that send nothing for this long, with code 1001 (negative disables)")
	fs.Int64Var(&o.maxFrame, "max-frame", 1<<20, "largest inbound message in bytes (larger: close 1009)")
	fs.IntVar(&o.maxConns, "max-conns", 0, "most connections held at once, whatever they are (WebSocket, LongPoll session, plain HTTP, handshake); over it new ones get 503 (0, the default: 100000, lowered to fit the process's open-file limit)")
	fs.IntVar(&o.maxConnsPerIP, "max-conns-per-ip", 0, "most connections one client address (IPv6: its /64) may hold at once; over it: 429 and close (0, the default, or negative: no limit; set it in production)")
	fs.Float64Var(&o.connRatePerIP, "conn-rate-per-ip", 0, "new connections per second one client address may open, sustained; over it: 429 and close (0, the default, or negative: no limit; set it in production)")
	fs.IntVar(&o.connBurstPerIP, "conn-burst-per-ip", 0, "burst allowed above -conn-rate-per-ip (0, the default: twice the rate)")
	fs.Int64Var(&o.maxBody, "max-body", 1<<20, "largest plain-HTTP request body in bytes (LongPoll POSTs, /api/broadcast); over it: 413")
	fs.DurationVar(&o.httpRead, "http-read-timeout", 30*time.Second, "a plain-HTTP request (head and body) must arrive within this")
	fs.DurationVar(&o.httpWrite, "http-write-timeout", 60*time.Second, "a plain-HTTP response must be written within this (keep it above the LongPoll window)")
	fs.DurationVar(&o.pauseTimeout, "pause-timeout", 30*time.Second, "a socket whose reading stays paused this long (its queued work or unsent output over the cap) is closed with 1008 (a LongPoll POST waiting this long: its session is closed)")
	fs.IntVar(&o.maxInbound, "max-inbound", 1024, "client events (and their timers, like slow's) one socket may have waiting for its channels; at it the socket's input stops being read until half have run")
	fs.IntVar(&o.maxInboundMiB, "max-inbound-mib", 4, "`MiB` of client frames one socket may have waiting for its channels (the byte side of -max-inbound)")
	fs.IntVar(&o.lpMaxSessions, "longpoll-max-sessions", 10_000, "most LongPoll sessions at once (they also count toward -max-conns)")
	fs.IntVar(&o.writeQueue, "write-queue", 4<<20, "unsent bytes per socket before it is closed as a slow consumer")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Second, "how long shutdown drains sockets (negative: no limit)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.phoenixJS, "phoenix-js", "", "`path` of the phoenix.js ES module the demo page at / uses (default: "+defaultPhoenixJS+", installed by npm ci in compat_test, looked for under the working directory and its parents, then in the source tree phxd was built from)")
	fs.DurationVar(&o.presenceWin, "presence-window", 50*time.Millisecond, "presence_diff batching window per topic (negative: one diff per change)")
	fs.DurationVar(&o.presenceMaxW, "presence-max-window", time.Second, "how wide the presence_diff window grows in a big room: 50µs per subscriber of the topic, from -presence-window up to this (negative or at most -presence-window: it never widens)")
	fs.DurationVar(&o.lpWindow, "longpoll-window", 10*time.Second, "how long a LongPoll poll waits for messages before answering 204 (as Phoenix)")
	fs.DurationVar(&o.lpIdle, "longpoll-idle", 0, "end LongPoll sessions that have not polled for this long (0, the default: 1.5 × -longpoll-window, as Phoenix)")
	fs.StringVar(&o.checkOrigin, "check-origin", "", "comma-separated `hosts` whose web pages may connect (Origin check, as Phoenix's check_origin): example.com, *.example.com (and subdomains), https://example.com:8443; * turns the check off (default localhost,127.0.0.1,[::1] and the -addr host)")
	fs.DurationVar(&o.memRelease, "mem-release", 30*time.Second, "every this long, check whether to hand free heap memory back to the OS (after a burst: when free heap exceeds the live heap, or the server went quiet), so RSS falls back (negative disables)")
	fs.IntVar(&o.memMinMiB, "mem-release-min", 16, "`MiB` of free heap (and of allocation per -mem-release interval, for \"quiet\") under which -mem-release does nothing (negative: no minimum)")
	fs.StringVar(&o.redisURL, "redis", "", "Redis `URL` (redis://HOST:PORT/DB) shared by every node: broadcasts and presence then reach the clients of every phxd on it; empty (the default): one node, everything in memory")
	fs.BoolVar(&o.redisCluster, "redis-cluster", false, "the -redis URL names a Redis Cluster: any of its masters, more as addr=HOST:PORT query params (a URL with addr= params implies it)")
	definePhoenixFlags(fs, o)
	defineDashboardFlags(fs, o)
	defineCompressFlags(fs, o)
	defineTLSFlags(fs, o)
	fs.StringVar(&o.node, "node", "", "this node's `name` on Redis, for its PubSub and its presences; two running nodes must never share one (default: hostname-pid-random, new at every start)")
	fs.DurationVar(&o.presenceBeat, "presence-heartbeat", 2*time.Second, "how often this node heartbeats in the presence store and looks for nodes that stopped heartbeating")
	fs.DurationVar(&o.presenceNodeT, "presence-node-timeout", 0, "a node silent for this long is dead: its presences leave every list, within this plus one -presence-heartbeat (0, the default: five -presence-heartbeat intervals; longer than one interval)")
	fs.StringVar(&o.pprofAddr, "pprof", "", "serve net/http/pprof at this loopback `addr`ess (e.g. 127.0.0.1:6060); off when empty")
	return fs
}

func newLogger(o *options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("-log-format must be text or json, got %q", o.logFormat)
}

// newServer builds the app's server and its Presence: in memory, or on
// Redis when cl is not nil (-redis).
func newServer(o *options, log *slog.Logger, cl *cluster) (*phx.Server, *presence.Presence, error) {
	mode := phx.RejectFrame
	if o.rejectMode == "http" {
		mode = phx.RejectHTTP
	}
	cfg := phx.Config{
		Connect:         connect,
		ID:              socketID,
		Origin:          o.origin,
		RejectMode:      mode,
		RejectBrake:     o.rejectBrake,
		JoinDeadline:    o.joinDeadline,
		Logger:          log,
		MaxInbound:      o.maxInbound,
		MaxInboundBytes: o.maxInboundMiB << 20,
		InboundStall:    o.pauseTimeout,
		Compress:        compressConfig(o),
		LongPoll: phx.LongPollConfig{Window: o.lpWindow, Idle: o.lpIdle,
			MaxSessions: o.lpMaxSessions, MaxBody: o.maxBody},
		Net: phx.NetConfig{
			IdleTimeout:      o.idleTimeout,
			MaxFrameSize:     o.maxFrame,
			MaxConns:         o.maxConns,
			WriteQueueBytes:  o.writeQueue,
			MaxConnsPerIP:    o.maxConnsPerIP,
			ConnRatePerIP:    o.connRatePerIP,
			ConnBurstPerIP:   o.connBurstPerIP,
			MaxBodyBytes:     o.maxBody,
			HTTPReadTimeout:  o.httpRead,
			HTTPWriteTimeout: o.httpWrite,
			PauseTimeout:     o.pauseTimeout,
		},
	}
	pcfg := presence.Config{DiffWindow: o.presenceWin, MaxDiffWindow: o.presenceMaxW, Node: o.node,
		HeartbeatInterval: o.presenceBeat, NodeTimeout: o.presenceNodeT}
	if cl != nil {
		cfg.PubSub, pcfg.Store, pcfg.Node = cl.phxPubSub(), cl.start, cl.node
	}
	srv := phx.NewServer(cfg)
	pres, err := presence.New(srv, pcfg)
	if cl != nil {
		cl.start.started.Store(true)
	}
	if err != nil {
		return nil, nil, err
	}
	// After a Redis outage Presence itself pushes presence_state again to
	// the room members (the PubSub reports its health: pubsub.Health).
	srv.Channel("room:*", roomChannel{presence: pres})
	srv.Channel("bench:*", benchChannel{})
	return srv, pres, nil
}

func run(args []string, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "phxd:", err)
		return 2
	}
	log, err := newLogger(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "phxd:", err)
		return 2
	}
	tlsCfg, err := loadTLS(o)
	if err != nil {
		fmt.Fprintln(stderr, "phxd:", err)
		return 2
	}
	var cl *cluster
	var extra []prometheus.Collector
	if o.redisURL != "" {
		if cl, err = openCluster(o, log); err != nil {
			fmt.Fprintln(stderr, "phxd:", err)
			return 2
		}
		extra = append(extra, newClusterCollector(cl.stats))
		extra = append(extra, newPhoenixCollector(cl)...)
	}
	srv, pres, err := newServer(o, log, cl)
	if err != nil {
		log.Error("presence setup failed", "err", err)
		if cl != nil {
			_ = cl.close()
		}
		return 1
	}
	// Runs last: after the server has drained (srv.Shutdown returns once
	// every channel has terminated, so their presences have left),
	// Presence, then the PubSub and the Redis client.
	defer func() {
		if err := pres.Close(); err != nil {
			log.Warn("presence close failed", "err", err)
		}
		if cl != nil {
			if err := cl.close(); err != nil {
				log.Warn("redis close failed", "err", err)
			}
		}
		log.Info("stopped")
	}()
	apiKey := strings.TrimSpace(os.Getenv(apiKeyEnv))
	switch {
	case apiKey == "":
		log.Info("POST /api/broadcast is off: set " + apiKeyEnv + " to enable it")
	case len(apiKey) < minAPIKey:
		log.Warn(apiKeyEnv+" is short: use at least 32 random characters", "length", len(apiKey))
	}
	if os.Getenv(secretKeyBaseEnv) != "" {
		log.Info("Phoenix.Token auth is on (" + secretKeyBaseEnv + " is set): salt \"user socket\", max age 86400 s")
	}
	log.Info("origin check", "allowed", describeOrigins(o.origin))
	mux := newMux(srv, log, o.phoenixJS, apiKey, extra...)
	closeDash, dashOn := mountDashboard(mux, srv, pres, o, log)
	defer closeDash()
	if o.memRelease > 0 {
		ctx, stop := context.WithCancel(context.Background())
		defer stop()
		go newMemReleaser(uint64(max(o.memMinMiB, 0))<<20).run(ctx, o.memRelease, log)
	}
	if o.pprofAddr != "" {
		pln, err := listenPprof(o.pprofAddr, log)
		if err != nil {
			log.Error("pprof listen failed", "err", err)
			return 1
		}
		defer pln.Close()
	}
	// Catch signals before announcing the address, so that a signal right
	// after "listening" drains instead of killing the process.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		log.Error("listen failed", "addr", o.addr, "err", err)
		return 1
	}
	log.Info("listening", "addr", ln.Addr().String())
	// The URL alone, followed by a space, so that terminals make it a link.
	log.Info("phxd listening: open " + schemeURL(demoURL(ln.Addr()), tlsCfg) + " in a browser for the demo page")
	if dashOn {
		log.Info(strings.Replace(dashboardNote(ln.Addr()), "open http:", "open "+schemeURL("http:", tlsCfg), 1))
	}
	served := make(chan error, 1)
	go func() { served <- serve(srv, ln, mux, tlsCfg) }()

	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-served:
		log.Error("serve failed", "err", err)
		return 1
	}
	ctx := context.Background()
	if o.drainTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.drainTimeout)
		defer cancel()
	}
	closeDash() // its streams end before the server drains
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown incomplete", "err", err)
	}
	return 0
}

const usageHeader = `Usage: phxd [flags]

phxd serves the phxgo example app: a Phoenix Channels socket at /socket
(WebSocket and LongPoll), a demo page at /, GET /healthz, GET /metrics,
POST /api/broadcast and a live dashboard at /dashboard/.

Environment:
  PHXD_API_KEY  bearer key of POST /api/broadcast, a server-to-server API:
                requests must send "Authorization: Bearer <key>" (else 401)
                and Content-Type application/json (else 415); events phx_*,
                presence_state and presence_diff are refused (400); bodies
                over 1 MiB get 413. Unset or empty: the endpoint is off (404).
  SECRET_KEY_BASE  the Elixir app's secret_key_base: the token param may
                then also be a Phoenix.Token (signed or encrypted, salt
                "user socket", at most 86400 s old) whose data is the user id.
  PHXD_DASHBOARD_KEY  the dashboard's key: /dashboard/ then answers on any
                -addr, to requests with "Authorization: Bearer <key>" or
                the cookie its login form sets. Unset: loopback only.

Flags (a duration or number given as 0 means its default, shown below; a
negative one turns the setting off, where it can be off):
`

// minAPIKey is the key length under which phxd warns at start.
const minAPIKey = 16

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }
