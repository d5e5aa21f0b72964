package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Scenario is a load test script, read from JSON (see README.md and
// testdata/phxbench/). Groups of virtual clients connect at their ramp rate
// and run their steps; the run ends when every client has finished (or
// failed), after Hold and a drain, or at Duration at the latest.
type Scenario struct {
	Name           string    `json:"name"`
	Description    string    `json:"description,omitempty"`
	URL            string    `json:"url"`
	Vsn            string    `json:"vsn,omitempty"`
	Transport      string    `json:"transport,omitempty"` // websocket (default) or longpoll
	Duration       Duration  `json:"duration"`
	Hold           Duration  `json:"hold,omitempty"`
	Drain          *Duration `json:"drain,omitempty"`
	Heartbeat      *Duration `json:"heartbeat,omitempty"`
	ConnectTimeout Duration  `json:"connect_timeout,omitempty"`
	ReplyTimeout   Duration  `json:"reply_timeout,omitempty"`
	MaxConnecting  int       `json:"max_connecting,omitempty"`
	Compress       bool      `json:"compress,omitempty"` // WebSocket clients offer permessage-deflate
	Groups         []Group   `json:"groups"`
	Expect         Expect    `json:"expect,omitzero"`
}

// Group is a set of identical virtual clients.
type Group struct {
	Name        string            `json:"name"`
	Count       int               `json:"count"`
	Rate        float64           `json:"rate,omitempty"` // connects per second; 0: as fast as max_connecting allows
	Params      map[string]string `json:"params,omitempty"`
	AuthToken   string            `json:"auth_token,omitempty"`
	Vsn         string            `json:"vsn,omitempty"`
	Transport   string            `json:"transport,omitempty"` // scenario's by default
	MaxInflight int               `json:"max_inflight,omitempty"`
	Steps       []Step            `json:"steps"`
}

// Step is one action of a client. Exactly one of the action fields (join,
// push, wait, sleep, repeat, barrier, leave, close) is set; the others
// modify it.
type Step struct {
	Join    *string   `json:"join,omitempty"`
	Push    *string   `json:"push,omitempty"`
	Wait    *string   `json:"wait,omitempty"`
	Sleep   *Duration `json:"sleep,omitempty"`
	Repeat  *int      `json:"repeat,omitempty"`
	Barrier *string   `json:"barrier,omitempty"`
	Leave   *string   `json:"leave,omitempty"`
	Close   *bool     `json:"close,omitempty"`

	Topic   string          `json:"topic,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Binary  bool            `json:"binary,omitempty"`
	Expect  *string         `json:"expect,omitempty"`
	NoWait  bool            `json:"nowait,omitempty"`
	Timeout Duration        `json:"timeout,omitempty"`
	Count   int             `json:"count,omitempty"`
	Jitter  Duration        `json:"jitter,omitempty"`
	Every   Duration        `json:"every,omitempty"`
	For     Duration        `json:"for,omitempty"`
	Steps   []Step          `json:"steps,omitempty"`
}

// Expect lists the thresholds that decide the exit status.
type Expect struct {
	MaxConnectErrorRate *float64            `json:"max_connect_error_rate,omitempty"` // default 0.001
	MaxErrors           *int64              `json:"max_errors,omitempty"`             // default 0
	MaxLost             *int64              `json:"max_lost,omitempty"`               // default 0
	P99                 map[string]Duration `json:"p99,omitempty"`                    // histogram name → bound
}

// Duration is a time.Duration written in JSON as "250ms" or as seconds.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalJSON accepts a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q (want e.g. \"500ms\", \"10s\")", s)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("bad duration %s (want a string like \"10s\" or seconds)", b)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// Defaults applied by validate.
const (
	defaultDrain          = 5 * time.Second
	defaultHeartbeat      = 30 * time.Second
	defaultConnectTimeout = 10 * time.Second
	defaultReplyTimeout   = 10 * time.Second
	defaultWaitTimeout    = 30 * time.Second
	defaultMaxConnecting  = 256
	DefaultConnectErrRate = 0.001
)

// LoadScenario reads and validates a scenario file.
func LoadScenario(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc, err := ParseScenario(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sc, nil
}

// ParseScenario decodes strict JSON (unknown fields are errors) and
// validates it.
func ParseScenario(r io.Reader) (*Scenario, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return nil, jsonError(data, err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the scenario object")
	}
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// jsonError adds a line number to a JSON syntax or type error.
func jsonError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return fmt.Errorf("invalid JSON at line %d: %w", line, err)
}

// applyDefaults fills zero fields.
func (sc *Scenario) applyDefaults() {
	if sc.Name == "" {
		sc.Name = "scenario"
	}
	if sc.Vsn == "" {
		sc.Vsn = "2.0.0"
	}
	if sc.Drain == nil {
		d := Duration(defaultDrain)
		sc.Drain = &d
	}
	if sc.Heartbeat == nil {
		d := Duration(defaultHeartbeat)
		sc.Heartbeat = &d
	}
	if sc.ConnectTimeout == 0 {
		sc.ConnectTimeout = Duration(defaultConnectTimeout)
	}
	if sc.ReplyTimeout == 0 {
		sc.ReplyTimeout = Duration(defaultReplyTimeout)
	}
	if sc.MaxConnecting == 0 {
		sc.MaxConnecting = defaultMaxConnecting
	}
	for i := range sc.Groups {
		if sc.Groups[i].MaxInflight == 0 {
			sc.Groups[i].MaxInflight = 1
		}
	}
}

// ParseScenarioBytes is parseScenario for a byte slice.
func ParseScenarioBytes(b []byte) (*Scenario, error) {
	sc, err := ParseScenario(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return sc, nil
}
