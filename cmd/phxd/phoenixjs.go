package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// defaultPhoenixJS is where `cd compat_test && npm ci` puts the ES module
// build of the pinned phoenix.js, relative to the repository root.
const defaultPhoenixJS = "compat_test/node_modules/phoenix/priv/static/phoenix.mjs"

// phoenixJS finds the phoenix.js file the demo page serves. With
// -phoenix-js set, that path is used as given. Unset, phxd looks for
// defaultPhoenixJS under the working directory and each of its parents,
// then under the repository phxd was built from (its source directory,
// recorded at build time), so `go run ./cmd/phxd` works from anywhere in
// or outside the checkout. The file is looked up again while it is
// missing, so running npm ci while phxd runs is enough.
type phoenixJS struct {
	flag       string   // -phoenix-js; "" when unset
	candidates []string // where to look, in order
	installDir string   // the first compat_test (with package.json) found where phxd looks; "" if none
}

// newPhoenixJS lists the places to look: flag alone when set, else
// defaultPhoenixJS under wd and its parents, then under the repository
// whose cmd/phxd is srcDir ("" when unknown).
func newPhoenixJS(flag, wd, srcDir string) *phoenixJS {
	var roots []string
	for dir := wd; dir != ""; {
		roots = append(roots, dir)
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	// The source tree, unless it is a read-only copy in the module cache
	// (go run …@version), where npm ci cannot install anything.
	if root := filepath.Dir(filepath.Dir(srcDir)); srcDir != "" && !strings.Contains(filepath.Base(root), "@") {
		roots = append(roots, root)
	}
	p := &phoenixJS{flag: flag}
	for _, root := range roots {
		if flag == "" {
			p.candidates = append(p.candidates, filepath.Join(root, defaultPhoenixJS))
		}
		if dir := filepath.Join(root, "compat_test"); p.installDir == "" && fileExists(filepath.Join(dir, "package.json")) {
			p.installDir = dir
		}
	}
	if flag != "" {
		p.candidates = []string{flag}
	}
	return p
}

// installCommand is the command that installs the pinned phoenix.js.
func (p *phoenixJS) installCommand() string {
	if p.installDir != "" {
		return "cd " + p.installDir + " && npm ci"
	}
	return "cd compat_test && npm ci (in the phxgo repository)"
}

// sourceDir is the directory of phxd's source files when it was built on
// this machine (go run, go build without -trimpath), else "".
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	return filepath.Dir(file)
}

// find returns the first candidate that is a regular file.
func (p *phoenixJS) find() (string, bool) {
	for _, c := range p.candidates {
		if fileExists(c) {
			return c, true
		}
	}
	return "", false
}

// missing says what is missing and how to install it: the body of
// /assets/phoenix.mjs while it is missing, and phxd's start-up warning.
func (p *phoenixJS) missing() string {
	var b strings.Builder
	if p.flag != "" {
		fmt.Fprintf(&b, "phoenix.js was not found at %s (-phoenix-js).\n", p.flag)
	} else {
		fmt.Fprintf(&b, "phoenix.js is not installed: phxd looked for %s in\n", defaultPhoenixJS)
		for _, c := range p.candidates {
			fmt.Fprintf(&b, "  %s\n", c)
		}
	}
	fmt.Fprintf(&b, "Install it with:\n  %s\n", p.installCommand())
	b.WriteString("Or start phxd with -phoenix-js PATH (the phoenix.mjs of the phoenix npm package).\n")
	return b.String()
}

// logStart logs, once at start, which file the demo page serves or what is
// missing.
func (p *phoenixJS) logStart(log *slog.Logger) {
	if path, ok := p.find(); ok {
		log.Info("demo page: serving phoenix.js", "path", path)
		return
	}
	what := defaultPhoenixJS
	if p.flag != "" {
		what = p.flag
	}
	log.Warn("demo page: phoenix.js not found; the page at / cannot connect until it is installed (or -phoenix-js names it)",
		"missing", what, "install", p.installCommand())
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}
