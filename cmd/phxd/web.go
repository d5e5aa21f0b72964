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

// mountWeb serves the demo page at / and its assets under /assets/.
// phoenixJSFlag is the -phoenix-js flag ("" when unset: phxd looks for the
// file, see phoenixJS); the file is served as /assets/phoenix.mjs.
func mountWeb(mux *http.ServeMux, phoenixJSFlag string, log *slog.Logger) {
	wd, _ := os.Getwd()
	js := newPhoenixJS(phoenixJSFlag, wd, sourceDir())
	js.logStart(log)
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
		serveDiskFile(w, r, js, "", "text/javascript; charset=utf-8")
	})
	mux.HandleFunc("GET /assets/phoenix.mjs.map", func(w http.ResponseWriter, r *http.Request) {
		serveDiskFile(w, r, js, ".map", "application/json")
	})
	static := http.StripPrefix("/assets/", http.FileServerFS(page))
	mux.Handle("GET /assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noCache(w)
		static.ServeHTTP(w, r)
	}))
}

// serveDiskFile serves phoenix.js (with suffix: its source map), read now
// (so installing phoenix.js while phxd runs is enough), or a 404 that says
// what is missing and how to install it.
func serveDiskFile(w http.ResponseWriter, r *http.Request, js *phoenixJS, suffix, contentType string) {
	noCache(w)
	path, ok := js.find()
	var f *os.File
	err := os.ErrNotExist
	if ok {
		f, err = os.Open(path + suffix)
	}
	if err != nil {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(js.missing()))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		http.Error(w, js.missing(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", contentType)
	http.ServeContent(w, r, filepath.Base(path+suffix), st.ModTime(), f)
}

func noCache(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}
