package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Built-in scenarios for the performance suite's figures (issue 6). Each is
// an ordinary Scenario built from flags; -print-scenario shows its JSON,
// which can be saved and edited as a starting point.

// builtinOptions are the flags the built-in scenarios read.
type builtinOptions struct {
	url, vsn, topic, token string
	n, msgs, inflight      int
	size                   int
	rate, ramp             float64
	d                      time.Duration
	binary                 bool
}

// builtinNames lists the built-in scenarios.
var builtinNames = []string{"idle", "fanout", "connect", "echo"}

// builtin returns the named built-in scenario, or ok false.
func builtin(name string, o builtinOptions) (sc *Scenario, ok bool, err error) {
	var s Scenario
	switch name {
	case "idle":
		s = idleScenario(o)
	case "fanout":
		s = fanoutScenario(o)
	case "connect":
		s = connectScenario(o)
	case "echo":
		if o.rate <= 0 {
			return nil, true, fmt.Errorf("echo: -rate must be positive (pushes per second over all sockets)")
		}
		s = echoScenario(o)
	default:
		return nil, false, nil
	}
	// Round-trip through JSON so a built-in is validated exactly like a file.
	b, err := json.Marshal(&s)
	if err != nil {
		return nil, true, err
	}
	sc, err = parseScenarioBytes(b)
	return sc, true, err
}

// ptr returns a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// connectBound is a generous hard bound for connecting n clients at rate.
func connectBound(n int, rate float64) time.Duration {
	if rate <= 0 {
		rate = 1000
	}
	return time.Duration(2*float64(n)/rate*float64(time.Second)) + 60*time.Second
}

// params are the connect params of every built-in client.
func (o builtinOptions) params() map[string]string { return map[string]string{"token": o.token} }

// topicOr returns -topic, or def when it is empty.
func (o builtinOptions) topicOr(def string) string {
	if o.topic != "" {
		return o.topic
	}
	return def
}

// body is a payload string: an optional stamp, padded to -size bytes.
func (o builtinOptions) body(stamp bool) string {
	b := ""
	if stamp {
		b = "{{stamp}}"
	}
	return b + strings.Repeat("x", max(0, o.size))
}

// idleScenario connects and joins N sockets and holds them for -d.
func idleScenario(o builtinOptions) Scenario {
	return Scenario{
		Name:        "idle",
		Description: fmt.Sprintf("connect and join %d sockets at %v/s, hold them for %v", o.n, o.ramp, o.d),
		URL:         o.url, Vsn: o.vsn,
		Duration: Duration(connectBound(o.n, o.ramp)),
		Hold:     Duration(o.d),
		Groups: []Group{{
			Name: "idle", Count: o.n, Rate: o.ramp, Params: o.params(),
			Steps: []Step{{Join: ptr(o.topicOr("bench:idle"))}},
		}},
	}
}

// fanoutScenario has N subscribers on one topic and one publisher pushing
// -msgs stamped new_msg with up to -inflight in flight.
func fanoutScenario(o builtinOptions) Scenario {
	topic := o.topicOr("bench:fanout")
	pl, _ := json.Marshal(map[string]string{"body": o.body(true)})
	return Scenario{
		Name: "fanout",
		Description: fmt.Sprintf("%d subscribers of %s; 1 publisher pushes %d new_msg, up to %d in flight",
			o.n, topic, o.msgs, o.inflight),
		URL: o.url, Vsn: o.vsn,
		Duration: Duration(connectBound(o.n, o.ramp) + 120*time.Second),
		Groups: []Group{
			{
				Name: "subscribers", Count: o.n, Rate: o.ramp, Params: o.params(),
				Steps: []Step{{Join: ptr(topic)}, {Barrier: ptr("subscribed")}},
			},
			{
				Name: "publisher", Count: 1, Params: o.params(), MaxInflight: o.inflight,
				Steps: []Step{
					{Join: ptr(topic)},
					{Barrier: ptr("subscribed")},
					{Repeat: ptr(o.msgs), Steps: []Step{{Push: ptr("new_msg"), Payload: pl, NoWait: true}}},
				},
			},
		},
	}
}

// connectScenario connects and joins N sockets as fast as -rate (0: as fast
// as max_connecting allows), measuring connect+join rate and cost.
func connectScenario(o builtinOptions) Scenario {
	return Scenario{
		Name:        "connect",
		Description: fmt.Sprintf("connect+join %d sockets (rate %v/s, 0 = unlimited)", o.n, o.rate),
		URL:         o.url, Vsn: o.vsn,
		Duration: Duration(connectBound(o.n, o.rate)),
		Groups: []Group{{
			Name: "connect", Count: o.n, Rate: o.rate, Params: o.params(),
			Steps: []Step{{Join: ptr(o.topicOr("bench:connect"))}},
		}},
	}
}

// echoScenario pushes echo at -rate per second in total over N sockets for
// -d: each socket pushes every N/rate seconds, starting at a random phase
// once all have joined.
func echoScenario(o builtinOptions) Scenario {
	every := time.Duration(float64(o.n) / o.rate * float64(time.Second))
	var pl json.RawMessage
	if o.binary {
		pl, _ = json.Marshal("echo " + o.body(false))
	} else {
		pl, _ = json.Marshal(map[string]string{"body": o.body(false), "seq": "{{seq}}"})
	}
	return Scenario{
		Name:        "echo",
		Description: fmt.Sprintf("%v echo pushes/s over %d sockets for %v (one push per socket every %v)", o.rate, o.n, o.d, every),
		URL:         o.url, Vsn: o.vsn,
		Duration: Duration(connectBound(o.n, o.ramp) + o.d + 30*time.Second),
		Groups: []Group{{
			Name: "echo", Count: o.n, Rate: o.ramp, Params: o.params(),
			Steps: []Step{
				{Join: ptr(o.topicOr("bench:echo"))},
				{Barrier: ptr("joined")},
				{Sleep: ptr(Duration(0)), Jitter: Duration(every)},
				{Repeat: ptr(0), For: Duration(o.d), Every: Duration(every), Steps: []Step{
					{Push: ptr("echo"), Payload: pl, Binary: o.binary},
				}},
			},
		}},
	}
}
