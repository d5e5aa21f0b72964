// Package compat_test is phxgo's compatibility suite: it builds the example
// server cmd/phxd, starts it on a free port and drives it black-box, through
// its wire protocol only, with
//
//   - unmodified phoenix.js clients (npm phoenix 1.8.16 and 1.7.23) running in
//     Node with the ws package as their WebSocket transport (js/), and
//   - a raw Go WebSocket client (gobwas/ws) for what phoenix.js cannot do:
//     exact frames, V1 serializer, malformed input, transcript replay.
//
// The expected behaviour is the example app contract (cmd/phxd/README.md,
// "the contract") and the wire protocol as real Phoenix speaks it (frame
// formats: the serializer package documentation).
//
// Run it (from the repository root or this directory):
//
//	cd compat_test && npm ci && go test -race -count=1 ./...
//
// Environment:
//
//	PHXD_BIN  use this server binary instead of building ./cmd/phxd
//	NODE      node executable (default: node on PATH)
//
// Nothing is skipped: without node or node_modules the suite fails and says
// how to fix it.
package compat_test

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// defaultParallel is the test parallelism used unless -test.parallel is given.
// Most of the suite waits on timers and sockets, not on the CPU, so it can run
// wider than GOMAXPROCS (the go test default) without slowing down.
const defaultParallel = 8

var (
	phxdBin  string // server binary under test
	nodeBin  string // node executable
	jsDir    string // absolute path of compat_test (node runs js/run.js there)
	artifact string // directory for logs of failed tests (git-ignored)
	shared   *phxd  // server with default flags, for tests that need nothing special
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !flagSet("test.parallel") {
		_ = flag.Set("test.parallel", fmt.Sprint(defaultParallel))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "compat_test setup failed:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "phxgo-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)

	if phxdBin = os.Getenv("PHXD_BIN"); phxdBin == "" {
		phxdBin = filepath.Join(tmp, "phxd")
		if err := buildPhxd(phxdBin); err != nil {
			fmt.Fprintln(os.Stderr, "compat_test: building cmd/phxd failed:", err)
			return 1
		}
	}

	shared, err = launch("shared")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat_test: starting the shared phxd failed:", err)
		return 1
	}
	code := m.Run()
	if err := shared.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "compat_test: shared phxd:", err)
		code = 1
	}
	if code != 0 || shared.suspicious() {
		if path, err := shared.saveLog("shared"); err == nil {
			fmt.Fprintln(os.Stderr, "compat_test: shared phxd log saved to", path)
		}
	}
	return code
}

// setup checks the Node side: node itself and the npm dependencies.
func setup() error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	jsDir = wd
	artifact = filepath.Join(wd, "artifacts")

	nodeBin = os.Getenv("NODE")
	if nodeBin == "" {
		nodeBin = "node"
	}
	if nodeBin, err = exec.LookPath(nodeBin); err != nil {
		return fmt.Errorf("node not found (%v): install Node.js ≥ 18 to run the phoenix.js compatibility tests", err)
	}
	for _, lib := range jsLibs {
		pkg := filepath.Join(wd, "node_modules", lib.Pkg, "package.json")
		b, err := os.ReadFile(pkg)
		if err != nil {
			return fmt.Errorf("%s is missing: run `npm ci` in %s first", pkg, wd)
		}
		if want := fmt.Sprintf(`"version": %q`, lib.Version); !strings.Contains(string(b), want) {
			return fmt.Errorf("%s is not version %s: run `npm ci` in %s", pkg, lib.Version, wd)
		}
	}
	if _, err := os.Stat(filepath.Join(wd, "node_modules", "ws", "package.json")); err != nil {
		return fmt.Errorf("node_modules/ws is missing: run `npm ci` in %s first", wd)
	}
	return nil
}

// buildPhxd builds ./cmd/phxd of this module, with the race detector when
// the tests themselves run with it (a server race then fails the suite).
func buildPhxd(out string) error {
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/phxd")
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Dir(jsDir) // the module root
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
