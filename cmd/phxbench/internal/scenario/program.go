package scenario

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
	OpJoin opKind = iota
	OpPush
	OpWait
	OpSleep
	OpRepeat
	OpBarrier
	OpLeave
	OpClose
)

// Op is one compiled step.
type Op struct {
	Kind    opKind
	Topic   int // index into groupProg.topics
	Event   string
	Payload tmpl
	Binary  bool
	Expect  string // "" accepts any status
	NoWait  bool
	Stamped bool // payload carries {{stamp}}
	Timeout time.Duration
	Count   int
	WaitKey int
	Sleep   time.Duration
	Jitter  time.Duration
	Times   int
	Every   time.Duration
	ForDur  time.Duration
	Body    []Op
	Barrier int
	Hist    string // latency histogram name
}

// param is one connect param.
type param struct {
	key string
	val tmpl
}

// WaitKey is a (topic, event) pair some wait step counts.
type waitKey struct {
	Topic int
	Event string
}

// GroupProg is a compiled group.
type GroupProg struct {
	idx      int
	Name     string
	Count    int
	First    int // global id of the group's first client
	Rate     float64
	Vsn      serializer.Version
	vsnStr   string
	LongPoll bool // LongPoll transport (engine/longpoll.go) instead of WebSocket
	Inflight int
	params   []param
	Auth     tmpl
	Topics   []tmpl
	WaitKeys []waitKey
	Ops      []Op
	Barriers map[int]int // barrier index → top-level pc
}

// Target is one server endpoint of the scenario's URL list.
type Target struct {
	URL      string // as given
	Host     string // Host header
	Addr     [4]byte
	Port     int
	path     string // as given
	WSPath   string // path of the WebSocket endpoint (…/websocket)
	LPPath   string // path of the LongPoll endpoint (…/longpoll)
	Loopback bool
}

// Program is a compiled scenario. The URL may list several servers (comma
// separated, e.g. the nodes of a cluster): every group deals its clients
// round-robin over them, its first client on the first (TargetOf).
type Program struct {
	Scenario *Scenario
	Targets  []Target
	Loopback bool // every target is a loopback address
	Groups   []*GroupProg
	Barriers []string
	Total    int
}

// TargetOf is the index of the target the n-th client of a group (0-based,
// within the group) connects to.
func (p *Program) TargetOf(n int) int { return n % len(p.Targets) }

// MaxBarriers is the number of distinct barriers a scenario may use (a
// client tracks the ones it reached in a 64-bit mask).
const MaxBarriers = 64

var groupName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Query builds a client's path and query string.
func (gp *GroupProg) Query(path string, v *TmplVars) string {
	buf := []byte(path)
	sep := byte('?')
	for _, pr := range gp.params {
		buf = append(buf, sep)
		buf = append(buf, url.QueryEscape(pr.key)...)
		buf = append(buf, '=')
		buf = append(buf, url.QueryEscape(pr.val.Str(v))...)
		sep = '&'
	}
	buf = append(buf, sep)
	buf = append(buf, "vsn="...)
	buf = append(buf, url.QueryEscape(gp.vsnStr)...)
	return string(buf)
}

// FDsNeeded is the number of file descriptors the clients need: one socket
// per WebSocket client, two HTTP connections (poll and send) per LongPoll
// client.
func (p *Program) FDsNeeded() int {
	n := 0
	for _, gp := range p.Groups {
		if gp.LongPoll {
			n += 2 * gp.Count
		} else {
			n += gp.Count
		}
	}
	return n
}

// HasLongPoll reports whether some group uses the LongPoll transport.
func (p *Program) HasLongPoll() bool {
	for _, gp := range p.Groups {
		if gp.LongPoll {
			return true
		}
	}
	return false
}

// TransportName is "" when every group uses WebSocket, "longpoll" when
// Every group uses LongPoll, "mixed" otherwise.
func (p *Program) TransportName() string {
	lp := 0
	for _, gp := range p.Groups {
		if gp.LongPoll {
			lp++
		}
	}
	switch lp {
	case 0:
		return ""
	case len(p.Groups):
		return "longpoll"
	}
	return "mixed"
}

// Planned estimates how long the run should take when nothing goes wrong:
// for the slowest group, its ramp-up (count / rate) plus the think time of
// its steps (sleeps with half their jitter, paced or timed repeats), then
// the hold. Replies and barrier waits are not in it. It never exceeds the
// scenario's hard bound; 0 when the steps say nothing about time.
func (p *Program) Planned() time.Duration {
	var d time.Duration
	for _, gp := range p.Groups {
		g := opsTime(gp.Ops)
		if gp.Rate > 0 {
			g += time.Duration(float64(gp.Count) / gp.Rate * float64(time.Second))
		}
		d = max(d, g)
	}
	if d > 0 {
		d += p.Scenario.Hold.D()
	}
	if bound := p.Scenario.Duration.D(); bound > 0 {
		d = min(d, bound)
	}
	return d
}

// opsTime is the think time of a list of ops (see planned).
func opsTime(ops []Op) time.Duration {
	var d time.Duration
	for i := range ops {
		o := &ops[i]
		switch o.Kind {
		case OpSleep:
			d += o.Sleep + o.Jitter/2
		case OpRepeat:
			iter := max(o.Every, opsTime(o.Body))
			var r time.Duration
			if o.Times > 0 {
				r = time.Duration(o.Times) * iter
			}
			if o.ForDur > 0 && (o.Times == 0 || o.ForDur < r) {
				r = o.ForDur
			}
			d += r
		}
	}
	return d
}
