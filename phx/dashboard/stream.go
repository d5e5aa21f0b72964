package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// writeWait bounds one write to a stream: a client that stops reading is
// dropped after it instead of holding its slot.
const writeWait = 10 * time.Second

func (d *Dashboard) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	d.freshen()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(d.Snapshot())
}

// serveStream sends the snapshot with history, then one sample event per
// interval, until the client leaves, the stream's lifetime ends or Close.
func (d *Dashboard) serveStream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !d.acquireStream() {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many dashboard streams", http.StatusServiceUnavailable)
		return
	}
	defer d.releaseStream()
	d.freshen()
	_, tick := d.current()
	if tick == nil { // closing
		http.Error(w, "dashboard closed", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		d.viewed.Store(time.Now().UnixNano())              // an open stream keeps the topic walk going
		_ = rc.SetWriteDeadline(time.Now().Add(writeWait)) // unsupported: the server's own timeout applies
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The browser reconnects 1 s after the stream ends (lifetime).
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil || !send("snapshot", d.Snapshot()) {
		return
	}
	end := time.NewTimer(d.cfg.lifetime)
	defer end.Stop()
	for {
		select {
		case <-tick:
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case <-end.C:
			return
		}
		var snap Snapshot
		if snap, tick = d.current(); tick == nil || !send("sample", snap) {
			return
		}
	}
}

// acquireStream takes a stream slot, or reports that all are taken or the
// Dashboard is closed.
func (d *Dashboard) acquireStream() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return false
	}
	select {
	case d.streams <- struct{}{}:
		d.serving.Add(1)
		return true
	default:
		return false
	}
}

func (d *Dashboard) releaseStream() {
	<-d.streams
	d.serving.Done()
}

// Streams counts the streams open now.
func (d *Dashboard) Streams() int { return len(d.streams) }
