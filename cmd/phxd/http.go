package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/phxgo/phxgo/phx"
)

// maxBroadcastBody bounds POST /api/broadcast bodies.
const maxBroadcastBody = 1 << 20

// newMux serves the example app's plain HTTP routes and the demo page
// (phoenixJS: the -phoenix-js file, served as /assets/phoenix.mjs).
func newMux(srv *phx.Server, log *slog.Logger, phoenixJS string) *http.ServeMux {
	mux := http.NewServeMux()
	mountWeb(mux, phoenixJS, log)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok")
	})
	mux.Handle("POST /api/broadcast", broadcastHandler(srv, log))
	mux.Handle("GET /metrics", metricsHandler(srv))
	return mux
}

type broadcastRequest struct {
	Topic   string          `json:"topic"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

// broadcastHandler publishes a JSON body's message to a topic.
func broadcastHandler(srv *phx.Server, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req broadcastRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBroadcastBody))
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
			return
		}
		switch {
		case req.Topic == "":
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "topic is required"})
			return
		case req.Event == "":
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "event is required"})
			return
		}
		payload := req.Payload
		if len(payload) == 0 {
			payload = json.RawMessage("{}")
		}
		if err := srv.Broadcast(req.Topic, req.Event, phx.RawJSON(payload)); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		log.Info("api broadcast", "topic", req.Topic, "event", req.Event)
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
