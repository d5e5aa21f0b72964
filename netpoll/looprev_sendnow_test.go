package netpoll

import (
	"io"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestSendNowOverPauseBytesResumesInput: a SendNow from another goroutine
// whose frame is larger than ReadPauseBytes sets the output-backlog pause
// while it writes. A read task that looks at that moment withholds the
// input; when the inline write then drains the queue, nothing else is
// scheduled on the connection (no Send, no flush), so the task that
// resumes reading must come from SendNow itself, or the input stalls for
// good (edge-triggered: no new edge announces bytes already waiting, and
// the sweep sees no pause in effect). The client sends one message at a
// time and waits for OnMessage while a goroutine keeps writing big
// frames with SendNow, with pauses: every message must arrive.
func TestSendNowOverPauseBytesResumesInput(t *testing.T) {
	got := make(chan struct{}, 1)
	rec := newRecorder(false)
	h := &funcHandler{recorder: rec, onMessage: func(*Conn, []byte) bool { got <- struct{}{}; return true }}
	_, addr := startServer(t, Config{ReadPauseBytes: 1 << 10, WriteQueueBytes: 1 << 20,
		PauseTimeout: time.Minute}, acceptAll(h), nil)
	cl := dial(t, addr)
	conn := rec.waitOpen(t)
	go func() { _, _ = io.Copy(io.Discard, cl.conn) }()

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		big := make([]byte, 8<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if conn.SendNow(OpBinary, big) != nil {
				return
			}
			// Gaps in which the backlog is under ReadPauseBytes: a
			// steady stream of big frames would keep the input paused
			// rightly.
			time.Sleep(50 * time.Microsecond)
		}
	}()
	defer func() { close(stop); <-done }()

	for i := range 3000 {
		cl.send(ws.OpText, []byte("m"))
		select {
		case <-got:
		case <-time.After(testWait):
			t.Fatalf("message %d never reached OnMessage: the input stayed withheld", i)
		}
	}
}
