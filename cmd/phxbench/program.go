package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// A program is a validated scenario compiled for the engine: URLs resolved,
// templates parsed, topics numbered per group, steps turned into ops.

type opKind uint8

const (
	opJoin opKind = iota
	opPush
	opWait
	opSleep
	opRepeat
	opBarrier
	opLeave
	opClose
)

// op is one compiled step.
type op struct {
	kind    opKind
	topic   int // index into groupProg.topics
	event   string
	payload tmpl
	binary  bool
	expect  string // "" accepts any status
	nowait  bool
	stamped bool // payload carries {{stamp}}
	timeout time.Duration
	count   int
	waitKey int
	sleep   time.Duration
	jitter  time.Duration
	times   int
	every   time.Duration
	forDur  time.Duration
	body    []op
	barrier int
	hist    string // latency histogram name
}

// param is one connect param.
type param struct {
	key string
	val tmpl
}

// waitKey is a (topic, event) pair some wait step counts.
type waitKey struct {
	topic int
	event string
}

// groupProg is a compiled group.
type groupProg struct {
	idx      int
	name     string
	count    int
	first    int // global id of the group's first client
	rate     float64
	vsn      serializer.Version
	vsnStr   string
	longpoll bool // LongPoll transport (longpoll.go) instead of WebSocket
	inflight int
	params   []param
	auth     tmpl
	topics   []tmpl
	waitKeys []waitKey
	ops      []op
	barriers map[int]int // barrier index → top-level pc
}

// program is a compiled scenario.
type program struct {
	sc       *Scenario
	host     string // Host header
	addr     [4]byte
	port     int
	path     string // as given
	wsPath   string // path of the WebSocket endpoint (…/websocket)
	lpPath   string // path of the LongPoll endpoint (…/longpoll)
	loopback bool
	groups   []*groupProg
	barriers []string
	total    int
}

// maxBarriers is the number of distinct barriers a scenario may use (a
// client tracks the ones it reached in a 64-bit mask).
const maxBarriers = 64

var groupName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validate applies defaults and checks the whole scenario.
func (sc *Scenario) validate() error {
	_, err := compile(sc)
	return err
}

// compile applies defaults to sc and compiles it.
func compile(sc *Scenario) (*program, error) {
	sc.applyDefaults()
	p := &program{sc: sc}
	if err := p.parseURL(sc.URL); err != nil {
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
		gp.first = p.total
		p.total += g.Count
		p.groups = append(p.groups, gp)
	}
	return p, nil
}

// parseURL checks a ws:// or http:// URL whose host is an IPv4 address or
// resolves to one. A path ending in /websocket or /longpoll names the socket
// endpoint: each transport uses its own last segment, as phoenix.js does.
func (p *program) parseURL(raw string) error {
	if raw == "" {
		return fmt.Errorf(`"url" is required, e.g. "ws://127.0.0.1:4000/socket/websocket"`)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf(`"url": %w`, err)
	}
	if u.Scheme != "ws" && u.Scheme != "http" {
		return fmt.Errorf(`"url": scheme must be ws or http (wss and https are not supported), got %q`, u.Scheme)
	}
	if u.RawQuery != "" {
		return fmt.Errorf(`"url": put connect params in the group's "params", not the URL`)
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	ta, err := net.ResolveTCPAddr("tcp4", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return fmt.Errorf(`"url": %w`, err)
	}
	copy(p.addr[:], ta.IP.To4())
	p.port, p.host, p.path = ta.Port, u.Host, u.EscapedPath()
	p.loopback = ta.IP.IsLoopback()
	if p.path == "" {
		p.path = "/"
	}
	p.wsPath, p.lpPath = p.path, p.path
	for _, last := range []string{"/websocket", "/longpoll"} {
		if base, ok := strings.CutSuffix(p.path, last); ok {
			p.wsPath, p.lpPath = base+"/websocket", base+"/longpoll"
		}
	}
	return nil
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
func (p *program) compileGroup(i int, g *Group) (*groupProg, error) {
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
	gp := &groupProg{idx: i, name: g.Name, count: g.Count, rate: g.Rate, inflight: g.MaxInflight, barriers: map[int]int{}}
	gp.vsnStr = g.Vsn
	if gp.vsnStr == "" {
		gp.vsnStr = p.sc.Vsn
	}
	v, err := serializer.ParseVsn(gp.vsnStr)
	if err != nil {
		return nil, fmt.Errorf(`"vsn": %w`, err)
	}
	gp.vsn = v
	switch tr := cmp.Or(g.Transport, p.sc.Transport, "websocket"); tr {
	case "websocket":
	case "longpoll":
		gp.longpoll = true
	default:
		return nil, fmt.Errorf(`"transport" must be websocket or longpoll, got %q`, tr)
	}
	if err := gp.compileParams(g); err != nil {
		return nil, err
	}
	c := &stepCompiler{p: p, g: gp}
	gp.ops, err = c.steps(g.Steps, "steps", true)
	return gp, err
}

// compileParams compiles the connect params, sorted by key for a stable
// query string; vsn is appended last, as phoenix.js does.
func (gp *groupProg) compileParams(g *Group) error {
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
	gp.auth = t
	return nil
}

// stepCompiler carries the lexical state of step compilation: the topic of
// the latest join, which push, wait and leave steps default to.
type stepCompiler struct {
	p         *program
	g         *groupProg
	lastTopic string
}

// Which modifier fields each action accepts.
var allowedFields = map[opKind][]string{
	opJoin:    {"payload", "timeout"},
	opPush:    {"topic", "payload", "binary", "expect", "nowait", "timeout"},
	opWait:    {"topic", "count", "timeout"},
	opSleep:   {"jitter"},
	opRepeat:  {"every", "for", "steps"},
	opBarrier: {},
	opLeave:   {"timeout"},
	opClose:   {},
}

var kindNames = [...]string{"join", "push", "wait", "sleep", "repeat", "barrier", "leave", "close"}

// steps compiles a list of steps at path.
func (c *stepCompiler) steps(steps []Step, path string, top bool) ([]op, error) {
	ops := make([]op, 0, len(steps))
	for i := range steps {
		at := fmt.Sprintf("%s[%d]", path, i)
		o, err := c.step(&steps[i], at, top)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if o.kind == opBarrier {
			c.g.barriers[o.barrier] = i
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// actionOf returns the step's single action.
func actionOf(s *Step) (opKind, error) {
	set := []bool{s.Join != nil, s.Push != nil, s.Wait != nil, s.Sleep != nil,
		s.Repeat != nil, s.Barrier != nil, s.Leave != nil, s.Close != nil}
	var k opKind
	n := 0
	for i, ok := range set {
		if ok {
			k, n = opKind(i), n+1
		}
	}
	if n != 1 {
		return 0, fmt.Errorf("a step needs exactly one action (join, push, wait, sleep, repeat, barrier, leave, close), found %d", n)
	}
	return k, nil
}

// presentFields lists the modifier fields set on s.
func presentFields(s *Step) []string {
	var f []string
	add := func(ok bool, name string) {
		if ok {
			f = append(f, name)
		}
	}
	add(s.Topic != "", "topic")
	add(s.Payload != nil, "payload")
	add(s.Binary, "binary")
	add(s.Expect != nil, "expect")
	add(s.NoWait, "nowait")
	add(s.Timeout != 0, "timeout")
	add(s.Count != 0, "count")
	add(s.Jitter != 0, "jitter")
	add(s.Every != 0, "every")
	add(s.For != 0, "for")
	add(s.Steps != nil, "steps")
	return f
}

// step compiles one step.
func (c *stepCompiler) step(s *Step, at string, top bool) (op, error) {
	k, err := actionOf(s)
	if err != nil {
		return op{}, err
	}
	for _, f := range presentFields(s) {
		if !slices.Contains(allowedFields[k], f) {
			return op{}, fmt.Errorf("%s step: field %q does not apply (allowed: %s)", kindNames[k], f, joinFields(allowedFields[k]))
		}
	}
	if s.Timeout < 0 {
		return op{}, fmt.Errorf("%s step: timeout must not be negative", kindNames[k])
	}
	switch k {
	case opJoin:
		return c.join(s)
	case opPush:
		return c.push(s)
	case opWait:
		return c.wait(s)
	case opSleep:
		if *s.Sleep < 0 || s.Jitter < 0 {
			return op{}, fmt.Errorf("sleep step: durations must not be negative")
		}
		return op{kind: opSleep, sleep: s.Sleep.D(), jitter: s.Jitter.D()}, nil
	case opRepeat:
		return c.repeat(s, at)
	case opBarrier:
		return c.barrier(s, top)
	case opLeave:
		t, err := c.topic(*s.Leave, "leave")
		return op{kind: opLeave, topic: t, timeout: c.timeout(s), hist: "leave"}, err
	}
	if !*s.Close {
		return op{}, fmt.Errorf(`close step: write "close": true`)
	}
	return op{kind: opClose}, nil
}

// joinFields lists field names for an error message.
func joinFields(f []string) string {
	if len(f) == 0 {
		return "none"
	}
	return strings.Join(f, ", ")
}

// timeout returns the step's reply timeout.
func (c *stepCompiler) timeout(s *Step) time.Duration {
	if s.Timeout > 0 {
		return s.Timeout.D()
	}
	return c.p.sc.ReplyTimeout.D()
}

// topic numbers a topic template within the group.
func (c *stepCompiler) topic(name, what string) (int, error) {
	if name == "" {
		if c.lastTopic == "" {
			return 0, fmt.Errorf(`%s step: "topic" is required (no join before this step)`, what)
		}
		name = c.lastTopic
	}
	for i, t := range c.g.topics {
		if t.raw == name {
			return i, nil
		}
	}
	t, err := compileTmpl(name, false)
	if err != nil {
		return 0, fmt.Errorf("%s step: topic: %w", what, err)
	}
	c.g.topics = append(c.g.topics, t)
	return len(c.g.topics) - 1, nil
}

// payload compiles a payload: a JSON object for text pushes, a JSON string
// (sent as its UTF-8 bytes) for binary ones.
func payload(raw json.RawMessage, binary bool) (tmpl, error) {
	if raw == nil {
		if binary {
			return tmpl{}, fmt.Errorf(`a binary push needs a "payload" string`)
		}
		return compileTmpl("{}", true)
	}
	trimmed := bytes.TrimSpace(raw)
	if binary {
		var s string
		if err := json.Unmarshal(trimmed, &s); err != nil {
			return tmpl{}, fmt.Errorf(`a binary push's "payload" must be a JSON string (its bytes are sent)`)
		}
		return compileTmpl(s, true)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return tmpl{}, fmt.Errorf("payload: %w", err)
	}
	return compileTmpl(buf.String(), true)
}

// join compiles a join step and makes its topic the default of later steps.
func (c *stepCompiler) join(s *Step) (op, error) {
	if *s.Join == "" {
		return op{}, fmt.Errorf("join step: the topic is empty")
	}
	t, err := c.topic(*s.Join, "join")
	if err != nil {
		return op{}, err
	}
	c.lastTopic = *s.Join
	pl, err := payload(s.Payload, false)
	if err != nil {
		return op{}, fmt.Errorf("join step: %w", err)
	}
	if pl.has(phSeq) || pl.has(phStamp) {
		return op{}, fmt.Errorf("join step: {{seq}} and {{stamp}} are only for push payloads")
	}
	return op{kind: opJoin, topic: t, payload: pl, timeout: c.timeout(s), expect: "ok", hist: "join"}, nil
}

// push compiles a push step.
func (c *stepCompiler) push(s *Step) (op, error) {
	ev := *s.Push
	switch {
	case ev == "":
		return op{}, fmt.Errorf("push step: the event is empty")
	case ev == serializer.EventJoin || ev == serializer.EventLeave:
		return op{}, fmt.Errorf("push step: use a %s step for %s", map[bool]string{true: "join", false: "leave"}[ev == serializer.EventJoin], ev)
	case s.Binary && c.g.vsn != serializer.V2:
		return op{}, fmt.Errorf("push step: binary payloads need vsn 2.0.0 (V1 has no binary frames)")
	case s.Binary && c.g.longpoll:
		return op{}, fmt.Errorf("push step: binary payloads are not supported over longpoll (LongPoll does not carry binary frames from the server to the client); use transport websocket")
	}
	t, err := c.topic(s.Topic, "push")
	if err != nil {
		return op{}, err
	}
	pl, err := payload(s.Payload, s.Binary)
	if err != nil {
		return op{}, fmt.Errorf("push step: %w", err)
	}
	expect := "ok"
	if s.Expect != nil {
		expect = *s.Expect
		if expect == "any" {
			expect = ""
		}
	}
	return op{kind: opPush, topic: t, event: ev, payload: pl, binary: s.Binary, expect: expect,
		nowait: s.NoWait, stamped: pl.has(phStamp), timeout: c.timeout(s), hist: "push:" + ev}, nil
}

// wait compiles a wait step and registers its (topic, event) counter.
func (c *stepCompiler) wait(s *Step) (op, error) {
	if *s.Wait == "" {
		return op{}, fmt.Errorf("wait step: the event is empty")
	}
	if s.Count < 0 {
		return op{}, fmt.Errorf("wait step: count must be at least 1")
	}
	t, err := c.topic(s.Topic, "wait")
	if err != nil {
		return op{}, err
	}
	key := -1
	for i, k := range c.g.waitKeys {
		if k.topic == t && k.event == *s.Wait {
			key = i
		}
	}
	if key < 0 {
		c.g.waitKeys = append(c.g.waitKeys, waitKey{topic: t, event: *s.Wait})
		key = len(c.g.waitKeys) - 1
	}
	o := op{kind: opWait, topic: t, event: *s.Wait, count: max(s.Count, 1), waitKey: key, timeout: defaultWaitTimeout}
	if s.Timeout > 0 {
		o.timeout = s.Timeout.D()
	}
	return o, nil
}

// repeat compiles a bounded loop.
func (c *stepCompiler) repeat(s *Step, at string) (op, error) {
	switch {
	case *s.Repeat < 0:
		return op{}, fmt.Errorf("repeat step: the count must not be negative")
	case *s.Repeat == 0 && s.For <= 0:
		return op{}, fmt.Errorf(`repeat step: give a count > 0 or a "for" duration (a loop must be bounded)`)
	case s.Every < 0 || s.For < 0:
		return op{}, fmt.Errorf("repeat step: durations must not be negative")
	case len(s.Steps) == 0:
		return op{}, fmt.Errorf(`repeat step: "steps" must list at least one step`)
	}
	body, err := c.steps(s.Steps, at+".steps", false)
	if err != nil {
		return op{}, err
	}
	return op{kind: opRepeat, times: *s.Repeat, every: s.Every.D(), forDur: s.For.D(), body: body}, nil
}

// barrier numbers a barrier; each may appear once per group, at the top level.
func (c *stepCompiler) barrier(s *Step, top bool) (op, error) {
	name := *s.Barrier
	switch {
	case name == "":
		return op{}, fmt.Errorf("barrier step: the name is empty")
	case !top:
		return op{}, fmt.Errorf("barrier step: barriers are only allowed at the top level of a group's steps")
	}
	idx := -1
	for i, b := range c.p.barriers {
		if b == name {
			idx = i
		}
	}
	if idx < 0 {
		if len(c.p.barriers) == maxBarriers {
			return op{}, fmt.Errorf("barrier step: at most %d distinct barriers", maxBarriers)
		}
		c.p.barriers = append(c.p.barriers, name)
		idx = len(c.p.barriers) - 1
	}
	if _, dup := c.g.barriers[idx]; dup {
		return op{}, fmt.Errorf("barrier step: barrier %q appears twice in this group", name)
	}
	return op{kind: opBarrier, barrier: idx}, nil
}

// query builds a client's path and query string.
func (gp *groupProg) query(path string, v *tmplVars) string {
	buf := []byte(path)
	sep := byte('?')
	for _, pr := range gp.params {
		buf = append(buf, sep)
		buf = append(buf, url.QueryEscape(pr.key)...)
		buf = append(buf, '=')
		buf = append(buf, url.QueryEscape(pr.val.str(v))...)
		sep = '&'
	}
	buf = append(buf, sep)
	buf = append(buf, "vsn="...)
	buf = append(buf, url.QueryEscape(gp.vsnStr)...)
	return string(buf)
}

// fdsNeeded is the number of file descriptors the clients need: one socket
// per WebSocket client, two HTTP connections (poll and send) per LongPoll
// client.
func (p *program) fdsNeeded() int {
	n := 0
	for _, gp := range p.groups {
		if gp.longpoll {
			n += 2 * gp.count
		} else {
			n += gp.count
		}
	}
	return n
}

// hasLongPoll reports whether some group uses the LongPoll transport.
func (p *program) hasLongPoll() bool {
	for _, gp := range p.groups {
		if gp.longpoll {
			return true
		}
	}
	return false
}

// transportName is "" when every group uses WebSocket, "longpoll" when
// every group uses LongPoll, "mixed" otherwise.
func (p *program) transportName() string {
	lp := 0
	for _, gp := range p.groups {
		if gp.longpoll {
			lp++
		}
	}
	switch lp {
	case 0:
		return ""
	case len(p.groups):
		return "longpoll"
	}
	return "mixed"
}
