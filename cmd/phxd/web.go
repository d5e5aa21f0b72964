package main

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
)

// The demo page (GET /): a chat room with presence and a panel that shows
// every close and phx_connect_error, using the real phoenix.js. The page's
// own files are embedded; phoenix.js is not (no third-party code in the
// repository): it is read at request time from the npm package that
// compat_test installs, see -phoenix-js.

//go:embed web
var webFiles embed.FS

// defaultPhoenixJS is where `cd compat_test && npm ci` puts the ES module
// build of the pinned phoenix.js, relative to the repository root.
const defaultPhoenixJS = "compat_test/node_modules/phoenix/priv/static/phoenix.mjs"

// phoenixJSMissing is the body of /assets/phoenix.mjs when the file is
// missing; the page shows its own message.
const phoenixJSMissing = "phoenix.js is not installed: run `cd compat_test && npm ci` in the phxgo repository, or start phxd with -phoenix-js PATH\n"

// mountWeb serves the demo page at / and its assets under /assets/.
// phoenixJS is the -phoenix-js flag: the file served as /assets/phoenix.mjs.
func mountWeb(mux *http.ServeMux, phoenixJS string, log *slog.Logger) {
	phoenixJS = resolvePhoenixJS(phoenixJS, log)
	page, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	index, err := fs.ReadFile(page, "index.html")
	if err != nil {
		panic(err)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		noCache(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(index)
	})
	mux.HandleFunc("GET /assets/phoenix.mjs", func(w http.ResponseWriter, r *http.Request) {
		serveDiskFile(w, r, phoenixJS, "text/javascript; charset=utf-8")
	})
	mux.HandleFunc("GET /assets/phoenix.mjs.map", func(w http.ResponseWriter, r *http.Request) {
		serveDiskFile(w, r, phoenixJS+".map", "application/json")
	})
	static := http.StripPrefix("/assets/", http.FileServerFS(page))
	mux.Handle("GET /assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noCache(w)
		static.ServeHTTP(w, r)
	}))
}

// resolvePhoenixJS returns the phoenix.js path to serve. The default path is
// relative to the repository root: when phxd runs in a subdirectory (as the
// compat tests run it), the parent directories are tried too. A missing file
// is not fatal: the page says how to install it.
func resolvePhoenixJS(path string, log *slog.Logger) string {
	if fileExists(path) {
		log.Info("demo page: serving phoenix.js", "path", path)
		return path
	}
	if path == defaultPhoenixJS {
		if dir, err := os.Getwd(); err == nil {
			for {
				parent := filepath.Dir(dir)
				if parent == dir {
					break
				}
				dir = parent
				if p := filepath.Join(dir, defaultPhoenixJS); fileExists(p) {
					log.Info("demo page: serving phoenix.js", "path", p)
					return p
				}
			}
		}
	}
	log.Warn("demo page: phoenix.js not found; the page at / cannot connect until you run `cd compat_test && npm ci` (or pass -phoenix-js PATH)",
		"path", path)
	return path
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// serveDiskFile serves path, read now (so installing phoenix.js while phxd
// runs is enough), or a 404 that says how to install it.
func serveDiskFile(w http.ResponseWriter, r *http.Request, path, contentType string) {
	noCache(w)
	f, err := os.Open(path)
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(phoenixJSMissing))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, phoenixJSMissing, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, filepath.Base(path), st.ModTime(), f)
}

func noCache(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}
