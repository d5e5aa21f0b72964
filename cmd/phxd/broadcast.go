package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/phxgo/phxgo/phx"
)

// apiKeyEnv names the environment variable holding the bearer key of
// POST /api/broadcast; the endpoint is off (404) when it is unset or empty.
const apiKeyEnv = "PHXD_API_KEY"

// maxBroadcastBody bounds POST /api/broadcast bodies (larger: 413).
const maxBroadcastBody = 1 << 20

// reservedEvents are events a client cannot tell from the server's own,
// besides every "phx_…" event (phx_reply, phx_close, phx_error, …):
// phoenix.js Presence applies presence_state and presence_diff to its
// list, so a forged one would add or remove users.
var reservedEvents = map[string]bool{"presence_state": true, "presence_diff": true}

type broadcastRequest struct {
	Topic   *string         `json:"topic"`
	Event   *string         `json:"event"`
	Payload json.RawMessage `json:"payload"`
}

// broadcastHandler serves POST /api/broadcast: a server-to-server API that
// publishes {"topic","event","payload"} to every subscriber of the topic.
// The checks, in order: bearer key (401), JSON content type (415, so that
// a cross-site form or text/plain POST cannot reach it), body size (413),
// then the body itself (400). key must not be empty.
func broadcastHandler(srv *phx.Server, log *slog.Logger, key string) http.Handler {
	want := sha256.Sum256([]byte(key))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r.Header.Get("Authorization"), want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="phxd"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer key (Authorization: Bearer $"+apiKeyEnv+")")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
			return
		}
		if r.ContentLength > maxBroadcastBody {
			writeError(w, http.StatusRequestEntityTooLarge, "body over "+strconv.Itoa(maxBroadcastBody)+" bytes")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBroadcastBody))
		if err != nil {
			if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
				writeError(w, http.StatusRequestEntityTooLarge, "body over "+strconv.Itoa(maxBroadcastBody)+" bytes")
				return
			}
			writeError(w, http.StatusBadRequest, "reading the body: "+err.Error())
			return
		}
		topic, event, payload, msg := parseBroadcast(body)
		if msg != "" {
			writeError(w, http.StatusBadRequest, msg)
			return
		}
		b, err := phx.NewBroadcast(topic, event, phx.RawJSON(payload))
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := srv.PubSub().Broadcast(b); err != nil {
			// This node's subscribers have it; the other nodes never will.
			log.Warn("api broadcast reached this node only", "topic", clip(topic), "event", clip(event), "err", err)
			writeError(w, http.StatusServiceUnavailable, "delivered on this node only: the other nodes could not be reached ("+err.Error()+")")
			return
		}
		log.Info("api broadcast", "topic", clip(topic), "event", clip(event), "payload_bytes", len(payload))
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "accepted"})
	})
}

// authorized compares the bearer credential with the key's hash in
// constant time (hashing first: neither the key's length nor a common
// prefix shows in the timing). The scheme is case-insensitive.
func authorized(header string, want [sha256.Size]byte) bool {
	scheme, cred, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// parseBroadcast validates a body; msg says what is wrong ("" when valid).
// The payload must be a JSON object (absent or null: {}).
func parseBroadcast(body []byte) (topic, event string, payload json.RawMessage, msg string) {
	var req broadcastRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return "", "", nil, "invalid JSON body: " + err.Error()
	}
	switch {
	case req.Topic == nil || *req.Topic == "":
		return "", "", nil, "topic is required"
	case req.Event == nil || *req.Event == "":
		return "", "", nil, "event is required"
	case *req.Topic == "phoenix":
		return "", "", nil, `topic "phoenix" is reserved for socket-level messages`
	case strings.HasPrefix(*req.Event, "phx_") || reservedEvents[*req.Event]:
		return "", "", nil, "event " + strconv.Quote(*req.Event) + " is reserved: clients could not tell it from the server's own"
	}
	payload = bytes.TrimSpace(req.Payload)
	switch {
	case len(payload) == 0 || string(payload) == "null":
		payload = json.RawMessage("{}")
	case payload[0] != '{':
		return "", "", nil, "payload must be a JSON object"
	}
	return *req.Topic, *req.Event, payload, ""
}

// maxLogged bounds the strings a request puts in the log.
const maxLogged = 128

// clip shortens s for the log, saying how much was cut.
func clip(s string) string {
	if len(s) <= maxLogged {
		return s
	}
	return strings.ToValidUTF8(s[:maxLogged], "") + "…(" + strconv.Itoa(len(s)) + " bytes)"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
