package main

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
