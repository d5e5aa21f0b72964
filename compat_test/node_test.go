package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// jsLib is one pinned phoenix.js release (see package.json).
type jsLib struct {
	Name    string // subtest name
	Pkg     string // npm package name in node_modules (PHX_LIB)
	Version string
}

var jsLibs = []jsLib{
	{Name: "phoenix-1.8.16", Pkg: "phoenix", Version: "1.8.16"},
	{Name: "phoenix-1.7.23", Pkg: "phoenix17", Version: "1.7.23"},
}

// forEachLib runs f as a parallel subtest per phoenix.js version.
func forEachLib(t *testing.T, f func(t *testing.T, lib jsLib)) {
	t.Helper()
	for _, lib := range jsLibs {
		t.Run(lib.Name, func(t *testing.T) {
			t.Parallel()
			f(t, lib)
		})
	}
}

// Bounds for one node process. Scenarios stop themselves after
// scenarioTimeout and report what they saw; nodeTimeout kills a node that
// does not. Both only matter when something hangs (or the machine is badly
// overloaded): a passing scenario takes a few seconds.
const (
	scenarioTimeout = 60 * time.Second
	nodeTimeout     = scenarioTimeout + 30*time.Second
)

// jsOutput is what js/run.js prints.
type jsOutput struct {
	Lib      string          `json:"lib"`
	Version  string          `json:"version"`
	Scenario string          `json:"scenario"`
	Result   json.RawMessage `json:"result"`
	Error    string          `json:"error"`
	Partial  json.RawMessage `json:"partial"`
}

// runJS runs one scenario of js/scenarios.js against srv with lib and decodes
// its result into a T. A scenario error or a broken output fails the test.
func runJS[T any](t *testing.T, srv *phxd, lib jsLib, scenario string, args any) T {
	t.Helper()
	return runJSWith[T](t, srv, lib, "", scenario, args)
}

// runJSWith is runJS with preload, a script node loads before js/run.js
// (such a script registers more scenarios in run.js's table); "" for none.
func runJSWith[T any](t *testing.T, srv *phxd, lib jsLib, preload, scenario string, args any) T {
	t.Helper()
	argJSON, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	nodeArgs := []string{"js/run.js", scenario}
	if preload != "" {
		nodeArgs = append([]string{"--require", preload}, nodeArgs...)
	}
	cmd := exec.CommandContext(ctx, nodeBin, nodeArgs...)
	cmd.Dir = jsDir
	dieWithParent(cmd)
	cmd.Env = append(os.Environ(),
		"PHX_URL="+srv.wsURL(),
		"PHX_LIB="+lib.Pkg,
		"PHX_ARGS="+string(argJSON),
		fmt.Sprintf("PHX_TIMEOUT_MS=%d", scenarioTimeout.Milliseconds()),
	)
	cmd.Env = append(cmd.Env, srv.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	var out jsOutput
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &out); err != nil {
		t.Fatalf("node %s (%s): %v; no JSON result (%v)\nstdout: %s\nstderr: %s",
			scenario, lib.Name, runErr, err, stdout.String(), stderr.String())
	}
	if out.Error != "" {
		t.Fatalf("node %s (%s) failed: %s\npartial observations: %s\nstderr: %s",
			scenario, lib.Name, out.Error, out.Partial, stderr.String())
	}
	if out.Version != lib.Version {
		t.Fatalf("node %s ran phoenix %s, want %s: run `npm ci` in compat_test", scenario, out.Version, lib.Version)
	}
	if stderr.Len() > 0 {
		t.Logf("node %s stderr:\n%s", scenario, stderr.String())
	}
	var res T
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatalf("node %s: decode result: %v\n%s", scenario, err, out.Result)
	}
	return res
}

// jsEvent is one observation recorded by js/harness.js (Client.record).
type jsEvent struct {
	Type     string          `json:"type"` // open close error message chan_error chan_close chan_event
	T        int             `json:"t"`    // ms since the scenario started; information only
	Code     int             `json:"code"`
	Reason   string          `json:"reason"`
	WasClean bool            `json:"wasClean"`
	Message  string          `json:"message"`
	Msg      *jsMessage      `json:"msg"`
	Topic    string          `json:"topic"`
	Label    string          `json:"label"`
	Event    string          `json:"event"`
	Payload  json.RawMessage `json:"payload"`
}

// jsMessage is a decoded inbound message as socket.onMessage sees it.
type jsMessage struct {
	Topic   string          `json:"topic"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Ref     json.RawMessage `json:"ref"`
	JoinRef json.RawMessage `json:"join_ref"`
}

// jsReply is the outcome of a phoenix.js Push: status "ok", "error" or
// "timeout"; Order counts replies within the scenario.
type jsReply struct {
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response"`
	Order    int             `json:"order"`
}

func (e jsEvent) String() string {
	switch e.Type {
	case "open":
		return "open"
	case "close":
		return fmt.Sprintf("close(%d %q clean=%v)", e.Code, e.Reason, e.WasClean)
	case "error":
		return fmt.Sprintf("error(%s)", e.Message)
	case "message":
		if e.Msg == nil {
			return "message(?)"
		}
		return fmt.Sprintf("message[%s,%s,%s,%s,%s]", e.Msg.JoinRef, e.Msg.Ref, e.Msg.Topic, e.Msg.Event, e.Msg.Payload)
	case "mark":
		return "mark(" + e.Message + ")"
	case "chan_event":
		return fmt.Sprintf("%s(%s %s %s)", e.Type, e.Label, e.Event, e.Payload)
	default:
		return fmt.Sprintf("%s(%s %s)", e.Type, e.Label, e.Payload)
	}
}

func describe(evs []jsEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n\t+%5dms %s", e.T, e)
	}
	return b.String()
}

// socketLevel keeps the socket callbacks (open, close, error, message) and
// drops Presence messages, which belong to a later issue.
func socketLevel(evs []jsEvent) []jsEvent {
	var out []jsEvent
	for _, e := range evs {
		switch e.Type {
		case "open", "close", "error":
			out = append(out, e)
		case "message":
			if e.Msg != nil && !isPresenceEvent(e.Msg.Event) {
				out = append(out, e)
			}
		}
	}
	return out
}

// untilMark returns the events before the first mark with that name (the
// scenario's own actions, such as its final disconnect, come after it).
func untilMark(evs []jsEvent, name string) []jsEvent {
	for i, e := range evs {
		if e.Type == "mark" && e.Message == name {
			return evs[:i]
		}
	}
	return evs
}

func count(evs []jsEvent, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Type == typ {
			n++
		}
	}
	return n
}

func filterEvents(evs []jsEvent, keep func(jsEvent) bool) []jsEvent {
	var out []jsEvent
	for _, e := range evs {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func isPresenceEvent(event string) bool {
	return event == "presence_state" || event == "presence_diff"
}

// assertReply checks a phoenix.js push outcome.
func assertReply(t *testing.T, what string, got jsReply, status, response string) {
	t.Helper()
	if got.Status != status {
		t.Errorf("%s: push status %q, want %q (response %s)", what, got.Status, status, got.Response)
		return
	}
	if response != "" && !jsonEqual(got.Response, []byte(response)) {
		t.Errorf("%s: response %s, want %s", what, got.Response, response)
	}
}

var idSeq atomic.Int64

// uniq returns an identifier unique in this test run, valid as a user id
// ([a-z0-9_]{1,32}) and as a topic suffix, so that scenarios sharing a
// server never share a user or a topic.
func uniq(prefix string) string {
	id := fmt.Sprintf("%s_%d", prefix, idSeq.Add(1))
	if len(id) > 32 {
		id = id[len(id)-32:]
	}
	return id
}

// libTag shortens a lib for ids: "18" or "17".
func libTag(l jsLib) string {
	return strings.ReplaceAll(l.Version[:3], ".", "")
}
