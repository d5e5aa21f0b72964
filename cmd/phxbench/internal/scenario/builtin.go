package scenario

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Built-in scenarios for the performance suite's figures (issue 6). Each is
// an ordinary Scenario built from flags; -print-scenario shows its JSON,
// which can be saved and edited as a starting point.

// BuiltinOptions are the flags the built-in scenarios read.
type BuiltinOptions struct {
	URL, Vsn, Topic, Token string
	N, Msgs, Inflight      int
	Size                   int
	Rate, Ramp             float64
	D                      time.Duration
	Binary                 bool
}

// BuiltinNames lists the built-in scenarios.
var BuiltinNames = []string{"idle", "fanout", "connect", "echo", "slow"}

// Builtin returns the named built-in scenario, or ok false.
func Builtin(name string, o BuiltinOptions) (sc *Scenario, ok bool, err error) {
	var s Scenario
	switch name {
	case "idle":
		s = idleScenario(o)
	case "fanout":
		s = fanoutScenario(o)
	case "connect":
		s = connectScenario(o)
	case "echo":
		if o.Rate <= 0 {
			return nil, true, fmt.Errorf("echo: -rate must be positive (pushes per second over all sockets)")
		}
		s = echoScenario(o)
	case "slow":
		if o.Rate <= 0 {
			return nil, true, fmt.Errorf("slow: -rate must be positive (echo pushes per second over all sockets)")
		}
		s = slowScenario(o)
	default:
		return nil, false, nil
	}
	// Round-trip through JSON so a built-in is validated exactly like a file.
	b, err := json.Marshal(&s)
	if err != nil {
		return nil, true, err
	}
	sc, err = ParseScenarioBytes(b)
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
func (o BuiltinOptions) params() map[string]string { return map[string]string{"token": o.Token} }

// TopicOr returns -topic, or def when it is empty.
func (o BuiltinOptions) TopicOr(def string) string {
	if o.Topic != "" {
		return o.Topic
	}
	return def
}

// body is a payload string: an optional stamp, padded to -size bytes.
func (o BuiltinOptions) body(stamp bool) string {
	b := ""
	if stamp {
		b = "{{stamp}}"
	}
	return b + strings.Repeat("x", max(0, o.Size))
}

// idleScenario connects and joins N sockets and holds them for -d.
func idleScenario(o BuiltinOptions) Scenario {
	return Scenario{
		Name:        "idle",
		Description: fmt.Sprintf("connect and join %d sockets at %v/s, hold them for %v", o.N, o.Ramp, o.D),
		URL:         o.URL, Vsn: o.Vsn,
		Duration: Duration(connectBound(o.N, o.Ramp)),
		Hold:     Duration(o.D),
		Groups: []Group{{
			Name: "idle", Count: o.N, Rate: o.Ramp, Params: o.params(),
			Steps: []Step{{Join: ptr(o.TopicOr("bench:idle"))}},
		}},
	}
}

// fanoutScenario has N subscribers on one topic and one publisher pushing
// -msgs stamped new_msg with up to -inflight in flight.
func fanoutScenario(o BuiltinOptions) Scenario {
	topic := o.TopicOr("bench:fanout")
	pl, _ := json.Marshal(map[string]string{"body": o.body(true)})
	return Scenario{
		Name: "fanout",
		Description: fmt.Sprintf("%d subscribers of %s; 1 publisher pushes %d new_msg, up to %d in flight",
			o.N, topic, o.Msgs, o.Inflight),
		URL: o.URL, Vsn: o.Vsn,
		Duration: Duration(connectBound(o.N, o.Ramp) + 120*time.Second),
		Groups: []Group{
			{
				Name: "subscribers", Count: o.N, Rate: o.Ramp, Params: o.params(),
				Steps: []Step{{Join: ptr(topic)}, {Barrier: ptr("subscribed")}},
			},
			{
				Name: "publisher", Count: 1, Params: o.params(), MaxInflight: o.Inflight,
				Steps: []Step{
					{Join: ptr(topic)},
					{Barrier: ptr("subscribed")},
					{Repeat: ptr(o.Msgs), Steps: []Step{{Push: ptr("new_msg"), Payload: pl, NoWait: true}}},
				},
			},
		},
	}
}

// connectScenario connects and joins N sockets as fast as -rate (0: as fast
// as max_connecting allows), measuring connect+join rate and cost.
func connectScenario(o BuiltinOptions) Scenario {
	return Scenario{
		Name:        "connect",
		Description: fmt.Sprintf("connect+join %d sockets (rate %v/s, 0 = unlimited)", o.N, o.Rate),
		URL:         o.URL, Vsn: o.Vsn,
		Duration: Duration(connectBound(o.N, o.Rate)),
		Groups: []Group{{
			Name: "connect", Count: o.N, Rate: o.Rate, Params: o.params(),
			Steps: []Step{{Join: ptr(o.TopicOr("bench:connect"))}},
		}},
	}
}

// echoScenario pushes echo at -rate per second in total over N sockets for
// -d: each socket pushes every N/rate seconds, starting at a random phase
// once all have joined.
func echoScenario(o BuiltinOptions) Scenario {
	every := time.Duration(float64(o.N) / o.Rate * float64(time.Second))
	var pl json.RawMessage
	if o.Binary {
		pl, _ = json.Marshal("echo " + o.body(false))
	} else {
		pl, _ = json.Marshal(map[string]string{"body": o.body(false), "seq": "{{seq}}"})
	}
	return Scenario{
		Name:        "echo",
		Description: fmt.Sprintf("%v echo pushes/s over %d sockets for %v (one push per socket every %v)", o.Rate, o.N, o.D, every),
		URL:         o.URL, Vsn: o.Vsn,
		Duration: Duration(connectBound(o.N, o.Ramp) + o.D + 30*time.Second),
		Groups: []Group{{
			Name: "echo", Count: o.N, Rate: o.Ramp, Params: o.params(),
			Steps: []Step{
				{Join: ptr(o.TopicOr("bench:echo"))},
				{Barrier: ptr("joined")},
				{Sleep: ptr(Duration(0)), Jitter: Duration(every)},
				{Repeat: ptr(0), For: Duration(o.D), Every: Duration(every), Steps: []Step{
					{Push: ptr("echo"), Payload: pl, Binary: o.Binary},
				}},
			},
		}},
	}
}

// slowScenario is the echo scenario beside one socket whose channel's
// handler blocks: a blocker socket joins the same topic and pushes the
// example app's bench event `block` {"ms": 1000} (its handler sleeps 1 s)
// back to back for -d, while -n sockets echo at -rate as in echo.
func slowScenario(o BuiltinOptions) Scenario {
	s := echoScenario(o)
	s.Name = "slow"
	s.Description = fmt.Sprintf("one channel's handler sleeps 1 s per event, back to back, while %s", s.Description)
	topic := o.TopicOr("bench:echo")
	blocker := Group{
		Name: "blocker", Count: 1, Params: map[string]string{"token": "user:blocker"},
		Steps: []Step{
			{Join: ptr(topic)},
			{Barrier: ptr("joined")},
			{Repeat: ptr(0), For: Duration(o.D), Steps: []Step{
				{Push: ptr("block"), Payload: json.RawMessage(`{"ms":1000}`), Timeout: Duration(10 * time.Second)},
			}},
		},
	}
	s.Groups = append([]Group{blocker}, s.Groups...)
	return s
}
