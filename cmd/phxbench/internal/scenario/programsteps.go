package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phxgo/phxgo/serializer"
)

// Compiling a group's steps into ops (stepCompiler): which fields each
// action accepts, topics, payload templates, timeouts, repeats and barriers.

// stepCompiler carries the lexical state of step compilation: the topic of
// the latest join, which push, wait and leave steps default to.
type stepCompiler struct {
	p         *Program
	g         *GroupProg
	lastTopic string
}

// Which modifier fields each action accepts.
var allowedFields = map[opKind][]string{
	OpJoin:    {"payload", "timeout"},
	OpPush:    {"topic", "payload", "binary", "expect", "nowait", "timeout"},
	OpWait:    {"topic", "count", "timeout"},
	OpSleep:   {"jitter"},
	OpRepeat:  {"every", "for", "steps"},
	OpBarrier: {},
	OpLeave:   {"timeout"},
	OpClose:   {},
}

var kindNames = [...]string{"join", "push", "wait", "sleep", "repeat", "barrier", "leave", "close"}

// steps compiles a list of steps at path.
func (c *stepCompiler) steps(steps []Step, path string, top bool) ([]Op, error) {
	ops := make([]Op, 0, len(steps))
	for i := range steps {
		at := fmt.Sprintf("%s[%d]", path, i)
		o, err := c.step(&steps[i], at, top)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if o.Kind == OpBarrier {
			c.g.Barriers[o.Barrier] = i
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
func (c *stepCompiler) step(s *Step, at string, top bool) (Op, error) {
	k, err := actionOf(s)
	if err != nil {
		return Op{}, err
	}
	for _, f := range presentFields(s) {
		if !slices.Contains(allowedFields[k], f) {
			return Op{}, fmt.Errorf("%s step: field %q does not apply (allowed: %s)", kindNames[k], f, joinFields(allowedFields[k]))
		}
	}
	if s.Timeout < 0 {
		return Op{}, fmt.Errorf("%s step: timeout must not be negative", kindNames[k])
	}
	switch k {
	case OpJoin:
		return c.join(s)
	case OpPush:
		return c.push(s)
	case OpWait:
		return c.wait(s)
	case OpSleep:
		if *s.Sleep < 0 || s.Jitter < 0 {
			return Op{}, fmt.Errorf("sleep step: durations must not be negative")
		}
		return Op{Kind: OpSleep, Sleep: s.Sleep.D(), Jitter: s.Jitter.D()}, nil
	case OpRepeat:
		return c.repeat(s, at)
	case OpBarrier:
		return c.barrier(s, top)
	case OpLeave:
		t, err := c.topic(*s.Leave, "leave")
		return Op{Kind: OpLeave, Topic: t, Timeout: c.timeout(s), Hist: "leave"}, err
	}
	if !*s.Close {
		return Op{}, fmt.Errorf(`close step: write "close": true`)
	}
	return Op{Kind: OpClose}, nil
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
	return c.p.Scenario.ReplyTimeout.D()
}

// topic numbers a topic template within the group.
func (c *stepCompiler) topic(name, what string) (int, error) {
	if name == "" {
		if c.lastTopic == "" {
			return 0, fmt.Errorf(`%s step: "topic" is required (no join before this step)`, what)
		}
		name = c.lastTopic
	}
	for i, t := range c.g.Topics {
		if t.raw == name {
			return i, nil
		}
	}
	t, err := compileTmpl(name, false)
	if err != nil {
		return 0, fmt.Errorf("%s step: topic: %w", what, err)
	}
	c.g.Topics = append(c.g.Topics, t)
	return len(c.g.Topics) - 1, nil
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
func (c *stepCompiler) join(s *Step) (Op, error) {
	if *s.Join == "" {
		return Op{}, fmt.Errorf("join step: the topic is empty")
	}
	t, err := c.topic(*s.Join, "join")
	if err != nil {
		return Op{}, err
	}
	c.lastTopic = *s.Join
	pl, err := payload(s.Payload, false)
	if err != nil {
		return Op{}, fmt.Errorf("join step: %w", err)
	}
	if pl.has(phSeq) || pl.has(phStamp) {
		return Op{}, fmt.Errorf("join step: {{seq}} and {{stamp}} are only for push payloads")
	}
	return Op{Kind: OpJoin, Topic: t, Payload: pl, Timeout: c.timeout(s), Expect: "ok", Hist: "join"}, nil
}

// push compiles a push step.
func (c *stepCompiler) push(s *Step) (Op, error) {
	ev := *s.Push
	switch {
	case ev == "":
		return Op{}, fmt.Errorf("push step: the event is empty")
	case ev == serializer.EventJoin || ev == serializer.EventLeave:
		return Op{}, fmt.Errorf("push step: use a %s step for %s", map[bool]string{true: "join", false: "leave"}[ev == serializer.EventJoin], ev)
	case s.Binary && c.g.Vsn != serializer.V2:
		return Op{}, fmt.Errorf("push step: binary payloads need vsn 2.0.0 (V1 has no binary frames)")
	case s.Binary && c.g.LongPoll:
		return Op{}, fmt.Errorf("push step: binary payloads are not supported over longpoll (LongPoll does not carry binary frames from the server to the client); use transport websocket")
	}
	t, err := c.topic(s.Topic, "push")
	if err != nil {
		return Op{}, err
	}
	pl, err := payload(s.Payload, s.Binary)
	if err != nil {
		return Op{}, fmt.Errorf("push step: %w", err)
	}
	expect := "ok"
	if s.Expect != nil {
		expect = *s.Expect
		if expect == "any" {
			expect = ""
		}
	}
	return Op{Kind: OpPush, Topic: t, Event: ev, Payload: pl, Binary: s.Binary, Expect: expect,
		NoWait: s.NoWait, Stamped: pl.has(phStamp), Timeout: c.timeout(s), Hist: "push:" + ev}, nil
}

// wait compiles a wait step and registers its (topic, event) counter.
func (c *stepCompiler) wait(s *Step) (Op, error) {
	if *s.Wait == "" {
		return Op{}, fmt.Errorf("wait step: the event is empty")
	}
	if s.Count < 0 {
		return Op{}, fmt.Errorf("wait step: count must be at least 1")
	}
	t, err := c.topic(s.Topic, "wait")
	if err != nil {
		return Op{}, err
	}
	key := -1
	for i, k := range c.g.WaitKeys {
		if k.Topic == t && k.Event == *s.Wait {
			key = i
		}
	}
	if key < 0 {
		c.g.WaitKeys = append(c.g.WaitKeys, waitKey{Topic: t, Event: *s.Wait})
		key = len(c.g.WaitKeys) - 1
	}
	o := Op{Kind: OpWait, Topic: t, Event: *s.Wait, Count: max(s.Count, 1), WaitKey: key, Timeout: defaultWaitTimeout}
	if s.Timeout > 0 {
		o.Timeout = s.Timeout.D()
	}
	return o, nil
}

// repeat compiles a bounded loop.
func (c *stepCompiler) repeat(s *Step, at string) (Op, error) {
	switch {
	case *s.Repeat < 0:
		return Op{}, fmt.Errorf("repeat step: the count must not be negative")
	case *s.Repeat == 0 && s.For <= 0:
		return Op{}, fmt.Errorf(`repeat step: give a count > 0 or a "for" duration (a loop must be bounded)`)
	case s.Every < 0 || s.For < 0:
		return Op{}, fmt.Errorf("repeat step: durations must not be negative")
	case len(s.Steps) == 0:
		return Op{}, fmt.Errorf(`repeat step: "steps" must list at least one step`)
	}
	body, err := c.steps(s.Steps, at+".steps", false)
	if err != nil {
		return Op{}, err
	}
	return Op{Kind: OpRepeat, Times: *s.Repeat, Every: s.Every.D(), ForDur: s.For.D(), Body: body}, nil
}

// barrier numbers a barrier; each may appear once per group, at the top level.
func (c *stepCompiler) barrier(s *Step, top bool) (Op, error) {
	name := *s.Barrier
	switch {
	case name == "":
		return Op{}, fmt.Errorf("barrier step: the name is empty")
	case !top:
		return Op{}, fmt.Errorf("barrier step: barriers are only allowed at the top level of a group's steps")
	}
	idx := -1
	for i, b := range c.p.Barriers {
		if b == name {
			idx = i
		}
	}
	if idx < 0 {
		if len(c.p.Barriers) == MaxBarriers {
			return Op{}, fmt.Errorf("barrier step: at most %d distinct barriers", MaxBarriers)
		}
		c.p.Barriers = append(c.p.Barriers, name)
		idx = len(c.p.Barriers) - 1
	}
	if _, dup := c.g.Barriers[idx]; dup {
		return Op{}, fmt.Errorf("barrier step: barrier %q appears twice in this group", name)
	}
	return Op{Kind: OpBarrier, Barrier: idx}, nil
}
