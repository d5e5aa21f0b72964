package scenario

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"

	"github.com/phxgo/phxgo/serializer"
)

// Validating a scenario and compiling it into a program: defaults, the
// server URL, expectations, and each group's parameters (steps are compiled
// in programsteps.go).

// validate applies defaults and checks the whole scenario.
func (sc *Scenario) validate() error {
	_, err := Compile(sc)
	return err
}

// Compile applies defaults to sc and compiles it.
func Compile(sc *Scenario) (*Program, error) {
	sc.applyDefaults()
	p := &Program{Scenario: sc}
	if err := p.parseURLs(sc.URL); err != nil {
		return nil, err
	}
	switch {
	case sc.Duration <= 0:
		return nil, fmt.Errorf(`"duration" must be positive (the run's hard bound), got %v`, sc.Duration.D())
	case sc.Hold < 0 || *sc.Drain < 0 || *sc.Heartbeat < 0 || sc.ConnectTimeout < 0 || sc.ReplyTimeout < 0:
		return nil, fmt.Errorf("durations must not be negative")
	case sc.MaxConnecting < 0:
		return nil, fmt.Errorf(`"max_connecting" must be positive`)
	case len(sc.Groups) == 0:
		return nil, fmt.Errorf(`"groups" must list at least one group`)
	}
	if err := sc.Expect.check(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range sc.Groups {
		g := &sc.Groups[i]
		if seen[g.Name] {
			return nil, fmt.Errorf("groups[%d]: duplicate group name %q", i, g.Name)
		}
		seen[g.Name] = true
		gp, err := p.compileGroup(i, g)
		if err != nil {
			return nil, fmt.Errorf("groups[%d] %q: %w", i, g.Name, err)
		}
		gp.First = p.Total
		p.Total += g.Count
		p.Groups = append(p.Groups, gp)
	}
	return p, nil
}

// MaxTargets bounds the servers one URL list may name.
const MaxTargets = 64

// parseURLs checks the URL, or the comma-separated list of URLs, of the
// servers the clients are dealt over.
func (p *Program) parseURLs(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return fmt.Errorf(`"url" is required, e.g. "ws://127.0.0.1:4000/socket/websocket"`)
	}
	p.Loopback = true
	for s := range strings.SplitSeq(raw, ",") {
		t, err := parseURL(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		p.Targets = append(p.Targets, t)
		p.Loopback = p.Loopback && t.Loopback
	}
	if len(p.Targets) > MaxTargets {
		return fmt.Errorf(`"url": at most %d servers, got %d`, MaxTargets, len(p.Targets))
	}
	return nil
}

// parseURL checks a ws:// or http:// URL whose host is an IPv4 address or
// resolves to one. A path ending in /websocket or /longpoll names the socket
// endpoint: each transport uses its own last segment, as phoenix.js does.
func parseURL(raw string) (Target, error) {
	p := Target{URL: raw}
	if raw == "" {
		return p, fmt.Errorf(`"url": empty entry in the list`)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return p, fmt.Errorf(`"url": %w`, err)
	}
	if u.Scheme != "ws" && u.Scheme != "http" {
		return p, fmt.Errorf(`"url": scheme must be ws or http (wss and https are not supported), got %q`, u.Scheme)
	}
	if u.RawQuery != "" {
		return p, fmt.Errorf(`"url": put connect params in the group's "params", not the URL`)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	ta, err := net.ResolveTCPAddr("tcp4", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return p, fmt.Errorf(`"url": %w`, err)
	}
	copy(p.Addr[:], ta.IP.To4())
	p.Port, p.Host, p.path = ta.Port, u.Host, u.EscapedPath()
	p.Loopback = ta.IP.IsLoopback()
	if p.path == "" {
		p.path = "/"
	}
	p.WSPath, p.LPPath = p.path, p.path
	for _, last := range []string{"/websocket", "/longpoll"} {
		if base, ok := strings.CutSuffix(p.path, last); ok {
			p.WSPath, p.LPPath = base+"/websocket", base+"/longpoll"
		}
	}
	return p, nil
}

// check validates the expectation thresholds.
func (e *Expect) check() error {
	if r := e.MaxConnectErrorRate; r != nil && (*r < 0 || *r > 1) {
		return fmt.Errorf(`expect: "max_connect_error_rate" must be within 0..1, got %v`, *r)
	}
	if e.MaxErrors != nil && *e.MaxErrors < 0 || e.MaxLost != nil && *e.MaxLost < 0 {
		return fmt.Errorf(`expect: "max_errors" and "max_lost" must not be negative`)
	}
	return nil
}

// compileGroup checks and compiles one group.
func (p *Program) compileGroup(i int, g *Group) (*GroupProg, error) {
	switch {
	case !groupName.MatchString(g.Name):
		return nil, fmt.Errorf(`"name" must match [A-Za-z0-9_-]{1,64}`)
	case g.Count < 1:
		return nil, fmt.Errorf(`"count" must be at least 1, got %d`, g.Count)
	case g.Rate < 0:
		return nil, fmt.Errorf(`"rate" must not be negative`)
	case g.MaxInflight < 1:
		return nil, fmt.Errorf(`"max_inflight" must be at least 1`)
	case len(g.Steps) == 0:
		return nil, fmt.Errorf(`"steps" must list at least one step`)
	}
	gp := &GroupProg{idx: i, Name: g.Name, Count: g.Count, Rate: g.Rate, Inflight: g.MaxInflight, Barriers: map[int]int{}}
	gp.vsnStr = g.Vsn
	if gp.vsnStr == "" {
		gp.vsnStr = p.Scenario.Vsn
	}
	v, err := serializer.ParseVsn(gp.vsnStr)
	if err != nil {
		return nil, fmt.Errorf(`"vsn": %w`, err)
	}
	gp.Vsn = v
	switch tr := cmp.Or(g.Transport, p.Scenario.Transport, "websocket"); tr {
	case "websocket":
	case "longpoll":
		gp.LongPoll = true
	default:
		return nil, fmt.Errorf(`"transport" must be websocket or longpoll, got %q`, tr)
	}
	if err := gp.compileParams(g); err != nil {
		return nil, err
	}
	c := &stepCompiler{p: p, g: gp}
	gp.Ops, err = c.steps(g.Steps, "steps", true)
	return gp, err
}

// compileParams compiles the connect params, sorted by key for a stable
// query string; vsn is appended last, as phoenix.js does.
func (gp *GroupProg) compileParams(g *Group) error {
	keys := make([]string, 0, len(g.Params))
	for k := range g.Params {
		if k == "vsn" {
			return fmt.Errorf(`"params": set vsn with the "vsn" field`)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, err := compileTmpl(g.Params[k], false)
		if err != nil {
			return fmt.Errorf(`"params" %q: %w`, k, err)
		}
		gp.params = append(gp.params, param{key: k, val: t})
	}
	t, err := compileTmpl(g.AuthToken, false)
	if err != nil {
		return fmt.Errorf(`"auth_token": %w`, err)
	}
	gp.Auth = t
	return nil
}
