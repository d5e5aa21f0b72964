package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRepo makes a directory tree shaped like the phxgo checkout, with a
// phoenix.js when installed, and returns its root.
func fakeRepo(t *testing.T, installed bool) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"cmd/phxd", "compat_test", "a/b"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "compat_test", "package.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if installed {
		installPhoenixJS(t, root)
	}
	return root
}

// installPhoenixJS puts a stand-in phoenix.mjs where npm ci would.
func installPhoenixJS(t *testing.T, root string) {
	t.Helper()
	path := filepath.Join(root, defaultPhoenixJS)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("export const Socket = 1 // "+root+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPhoenixJSLookup(t *testing.T) {
	repo := fakeRepo(t, true)
	want := filepath.Join(repo, defaultPhoenixJS)
	elsewhere := t.TempDir()
	for _, tc := range []struct{ name, wd, src string }{
		{"working directory is the root", repo, ""},
		{"working directory below the root", filepath.Join(repo, "a", "b"), ""},
		{"elsewhere: the source tree", elsewhere, filepath.Join(repo, "cmd", "phxd")},
	} {
		got, ok := newPhoenixJS("", tc.wd, tc.src).find()
		if !ok || got != want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, ok, want)
		}
	}
	// A source tree in the module cache (go run …@version) is read-only:
	// not a place to look for, or to install, phoenix.js.
	cached := filepath.Join(t.TempDir(), "phxgo@v1.0.0")
	if err := os.Rename(repo, cached); err != nil {
		t.Fatal(err)
	}
	js := newPhoenixJS("", elsewhere, filepath.Join(cached, "cmd", "phxd"))
	if got, ok := js.find(); ok || strings.Contains(js.installCommand(), cached) {
		t.Errorf("module cache: found %q (%v), install %q", got, ok, js.installCommand())
	}
	repo = cached
	// An explicit -phoenix-js is used as given, never searched for.
	if _, ok := newPhoenixJS("missing.mjs", repo, filepath.Join(repo, "cmd", "phxd")).find(); ok {
		t.Error("-phoenix-js missing.mjs: found something else")
	}
}

// TestPhoenixJSMissing: without phoenix.js the asset answers 404 with what
// is missing and the command that installs it in the source tree, phxd
// logs it once at start, and installing it while phxd runs is enough.
func TestPhoenixJSMissing(t *testing.T) {
	repo := fakeRepo(t, false)
	js := newPhoenixJS("", t.TempDir(), filepath.Join(repo, "cmd", "phxd"))
	var log bytes.Buffer
	js.logStart(slog.New(slog.NewTextHandler(&log, nil)))
	install := "cd " + filepath.Join(repo, "compat_test") + " && npm ci"
	if n := strings.Count(log.String(), "\n"); n != 1 || !strings.Contains(log.String(), "phoenix.js not found") ||
		!strings.Contains(log.String(), install) {
		t.Fatalf("start-up log (%d lines): %s", n, log.String())
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /assets/phoenix.mjs", func(w http.ResponseWriter, r *http.Request) {
		serveDiskFile(w, r, js, "", "text/javascript")
	})
	status, body := get(t, mux, "/assets/phoenix.mjs")
	if status != http.StatusNotFound || !strings.Contains(body, defaultPhoenixJS) || !strings.Contains(body, install) {
		t.Fatalf("missing phoenix.js: %d %q", status, body)
	}
	installPhoenixJS(t, repo)
	if status, body := get(t, mux, "/assets/phoenix.mjs"); status != http.StatusOK || !strings.Contains(body, repo) {
		t.Fatalf("after install: %d %q", status, body)
	}
}

// TestPhoenixJSFromAnotherDirectory runs the demo page's handler from a
// directory outside the checkout, as `go run` from anywhere would: it
// serves the phoenix.js of the checkout phxd was built from, or a 404
// naming that path when it is not installed.
func TestPhoenixJSFromAnotherDirectory(t *testing.T) {
	t.Chdir(t.TempDir())
	src := sourceDir()
	if src == "" {
		t.Fatal("no source directory recorded (built with -trimpath?)")
	}
	path := filepath.Join(filepath.Dir(filepath.Dir(src)), defaultPhoenixJS)
	var log bytes.Buffer
	mux := http.NewServeMux()
	mountWeb(mux, "", slog.New(slog.NewTextHandler(&log, nil)))
	if status, body := get(t, mux, "/"); status != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("GET /: %d", status)
	}
	status, body := get(t, mux, "/assets/phoenix.mjs")
	if want, err := os.ReadFile(path); err == nil {
		if status != http.StatusOK || body != string(want) {
			t.Fatalf("GET /assets/phoenix.mjs: %d, %d bytes; want %s", status, len(body), path)
		}
		if !strings.Contains(log.String(), "serving phoenix.js") || !strings.Contains(log.String(), path) {
			t.Fatalf("start-up log: %s", log.String())
		}
		return
	}
	if status != http.StatusNotFound || !strings.Contains(body, path) || !strings.Contains(body, "npm ci") {
		t.Fatalf("GET /assets/phoenix.mjs without phoenix.js installed: %d %q", status, body)
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}
