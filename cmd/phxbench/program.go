package main

import (
	"net/url"
	"regexp"
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

// planned estimates how long the run should take when nothing goes wrong:
// for the slowest group, its ramp-up (count / rate) plus the think time of
// its steps (sleeps with half their jitter, paced or timed repeats), then
// the hold. Replies and barrier waits are not in it. It never exceeds the
// scenario's hard bound; 0 when the steps say nothing about time.
func (p *program) planned() time.Duration {
	var d time.Duration
	for _, gp := range p.groups {
		g := opsTime(gp.ops)
		if gp.rate > 0 {
			g += time.Duration(float64(gp.count) / gp.rate * float64(time.Second))
		}
		d = max(d, g)
	}
	if d > 0 {
		d += p.sc.Hold.D()
	}
	if bound := p.sc.Duration.D(); bound > 0 {
		d = min(d, bound)
	}
	return d
}

// opsTime is the think time of a list of ops (see planned).
func opsTime(ops []op) time.Duration {
	var d time.Duration
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case opSleep:
			d += o.sleep + o.jitter/2
		case opRepeat:
			iter := max(o.every, opsTime(o.body))
			var r time.Duration
			if o.times > 0 {
				r = time.Duration(o.times) * iter
			}
			if o.forDur > 0 && (o.times == 0 || o.forDur < r) {
				r = o.forDur
			}
			d += r
		}
	}
	return d
}
