package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
)

const testdataDir = "../../testdata/phxbench"

func TestFlags(t *testing.T) {
	var errb strings.Builder
	if _, err := parseFlags([]string{"-n", "5"}, &errb); err == nil {
		t.Error("missing -scenario accepted")
	}
	o, err := parseFlags([]string{"-scenario", "echo", "-n", "5", "-procs", "2"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "procs", o.procs, 2)
	check.Eq(t, "no pid", len(o.pids), 0)
	o, err = parseFlags([]string{"-scenario", "idle", "-pid", "12, 34,56"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	check.Eq(t, "pids", len(o.pids), 3)
	check.Eq(t, "last pid", o.pids[2], 56)
	for _, bad := range []string{"x", "1,", "1,-2"} {
		if _, err := parseFlags([]string{"-scenario", "idle", "-pid", bad}, &errb); err == nil {
			t.Errorf("-pid %q accepted", bad)
		}
	}
	var out strings.Builder
	code := run([]string{"-scenario", "fanout", "-n", "10", "-print-scenario"}, nil, &out, &errb)
	check.Eq(t, "exit", code, engine.ExitOK)
	if !strings.Contains(out.String(), `"{{stamp}}"`) {
		t.Errorf("printed scenario lacks the stamp: %s", out.String())
	}
	code = run([]string{"-scenario", filepath.Join(testdataDir, "bad", "zero_count.json")}, nil, &out, &errb)
	check.Eq(t, "exit for a bad file", code, engine.ExitUsage)
}

// -suite hands the other arguments to the suite.
func TestSuitePlanFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-only", "connect", "-suite", "-plan"}, nil, &out, io.Discard); code != engine.ExitOK ||
		!strings.Contains(out.String(), "phxbench -scenario connect -n 15000 -floor -url ws://127.0.0.1:4400/socket/websocket -pid $PID") {
		t.Errorf("run -suite -plan: %d\n%s", code, out.String())
	}
}

// -suite -cluster hands the other arguments to the cluster suite.
func TestClusterSuitePlanFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"-suite", "-cluster", "-plan", "-only", "fanout"}, nil, &out, io.Discard); code != engine.ExitOK ||
		!strings.Contains(out.String(), "fanout-redis3: 3 phxd on one Redis; phxbench -scenario fanout -n 9000 -msgs 200 -inflight 100") {
		t.Errorf("run -suite -cluster -plan: %d\n%s", code, out.String())
	}
	var errb bytes.Buffer
	if code := run([]string{"-suite", "-cluster", "-phxd", "/nonexistent/phxd"}, nil, io.Discard, &errb); code != engine.ExitUsage ||
		!strings.Contains(errb.String(), "not an executable file") {
		t.Errorf("missing phxd: %d %s", code, errb.String())
	}
	errb.Reset()
	exe, _ := os.Executable() // any executable passes for phxd here
	if code := run([]string{"-suite", "-cluster", "-phxd", exe, "-redis-server", "no-such-redis-server"}, nil, io.Discard, &errb); code != engine.ExitUsage ||
		!strings.Contains(errb.String(), "install Debian's redis-server") {
		t.Errorf("missing redis-server: %d %s", code, errb.String())
	}
}
