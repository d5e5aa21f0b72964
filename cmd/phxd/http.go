package main

import (
	"io"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phxgo/phxgo/phx"
)

// newMux serves the example app's plain HTTP routes and the demo page
// (phoenixJS: the -phoenix-js file, served as /assets/phoenix.mjs).
// POST /api/broadcast is mounted only when apiKey is not empty: without a
// key it answers 404 like any unknown path. /metrics adds the extra
// collectors to the server's.
func newMux(srv *phx.Server, log *slog.Logger, phoenixJS, apiKey string, extra ...prometheus.Collector) *http.ServeMux {
	mux := http.NewServeMux()
	mountWeb(mux, phoenixJS, log)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	if apiKey != "" {
		mux.Handle("POST /api/broadcast", broadcastHandler(srv, log, apiKey))
	}
	mux.Handle("GET /metrics", metricsHandler(srv, extra...))
	return mux
}
