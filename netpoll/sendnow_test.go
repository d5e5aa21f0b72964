package netpoll

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/gobwas/ws"
)

// TestSendNowInterleaved mixes inline writes (SendNow) with queued ones
// (Send) from several goroutines, with payloads across every header length
// and a client whose small receive buffer makes writes short or blocked:
// every frame must arrive whole, and each goroutine's frames in order.
func TestSendNowInterleaved(t *testing.T) {
	rec := newRecorder(false)
	_, addr := startServer(t, Config{WriteQueueBytes: 64 << 20}, acceptAll(rec), nil)
	cl := dialWith(t, smallBufDialer(), "ws://"+addr+"/socket")
	conn := rec.waitOpen(t)

	sizes := []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 200 << 10}
	const senders, perSender = 4, 60
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perSender {
				p := bytes.Repeat([]byte{byte(g)}, 8+sizes[i%len(sizes)])
				binary.BigEndian.PutUint32(p, uint32(g))
				binary.BigEndian.PutUint32(p[4:], uint32(i))
				send := conn.SendNow
				if i%3 == 2 {
					send = conn.Send
				}
				if err := send(OpBinary, p); err != nil {
					t.Errorf("sender %d, frame %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	next := make([]int, senders)
	for range senders * perSender {
		h, p, err := cl.readFrame()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if h.OpCode != ws.OpBinary || !h.Fin || len(p) < 8 {
			t.Fatalf("bad frame: %+v, %d bytes", h, len(p))
		}
		g, i := int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:]))
		if g >= senders || i != next[g] {
			t.Fatalf("frame %d of sender %d, want %d", i, g, next[g])
		}
		if want := 8 + sizes[i%len(sizes)]; len(p) != want {
			t.Fatalf("sender %d frame %d: %d bytes, want %d", g, i, len(p), want)
		}
		next[g]++
	}
	wg.Wait()

	// Idle again: a reply goes out inline, and a close still follows it.
	if err := conn.SendNow(OpText, []byte("last")); err != nil {
		t.Fatal(err)
	}
	if got := cl.expectFrame(ws.OpText); string(got) != "last" {
		t.Fatalf("got %q", got)
	}
	conn.Close(CloseNormal, "bye")
	cl.expectClose(CloseNormal, "bye")
	if err := conn.SendNow(OpText, []byte("late")); err != ErrClosed {
		t.Fatalf("SendNow after Close: %v, want ErrClosed", err)
	}
}
