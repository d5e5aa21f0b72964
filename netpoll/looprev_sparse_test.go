package netpoll

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// TestStressSparseWakeups aims at the moments a wake-up can be lost: the
// loop goes quiet after every step (the poller parks, the workers go
// idle), and the next step arrives from a random side just then: a push
// from another goroutine (Send or SendNow through the run queue), a
// client frame (an epoll edge), a pause and a resume. Each connection
// does one step at a time and waits for its result, so a lost wake-up is
// a step that never completes (there is no later traffic to rescue it).
func TestStressSparseWakeups(t *testing.T) {
	const nConns, steps = 8, 1500
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			h := &stressHandler{opened: make(chan struct{}, nConns)}
			_, addr := startServer(t, Config{Workers: workers, PauseTimeout: time.Minute},
				acceptAll(h), nil)
			cls := make([]*client, nConns)
			for i := range cls {
				cls[i] = dial(t, addr)
				<-h.opened
			}
			h.mu.Lock()
			conns := append([]*Conn(nil), h.conns...)
			h.mu.Unlock()
			var wg sync.WaitGroup
			for i := range nConns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := sparseSteps(cls[i], conns[i], uint64(i), steps); err != nil {
						t.Errorf("connection %d: %v", i, err)
					}
				}()
			}
			wg.Wait()
		})
	}
}

// sparseSteps runs one connection's steps; cl and c are its two ends (the
// handler maps cl's frames to c in OnOpen order, so they are paired by
// index only when dialed one by one, as the test does).
func sparseSteps(cl *client, c *Conn, seed uint64, steps int) error {
	r := rand.New(rand.NewPCG(seed, 7))
	var echo, push uint32
	expect := func(tag byte, seq uint32) error {
		_ = cl.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		hd, err := ws.ReadHeader(cl.r)
		if err != nil {
			return fmt.Errorf("waiting for %c %d: %v (a lost wake-up)", tag, seq, err)
		}
		b := make([]byte, hd.Length)
		if _, err = readFull(cl, b); err != nil {
			return err
		}
		if len(b) < 8 || b[0] != tag || binary.BigEndian.Uint32(b[4:]) != seq {
			return fmt.Errorf("got %q…, want %c %d", b[:min(len(b), 8)], tag, seq)
		}
		return nil
	}
	msg := func(tag byte, seq uint32) []byte {
		p := make([]byte, 8+r.IntN(64))
		p[0] = tag
		binary.BigEndian.PutUint32(p[4:], seq)
		return p
	}
	for range steps {
		if r.IntN(4) == 0 {
			time.Sleep(time.Duration(r.IntN(200)) * time.Microsecond) // let the loop park
		}
		k := r.IntN(8)
		switch {
		case k < 3: // a push from this goroutine, through the run queue
			send := c.Send
			if k == 0 {
				send = c.SendNow
			}
			if err := send(OpBinary, msg('p', push)); err != nil {
				return err
			}
			if err := expect('p', push); err != nil {
				return err
			}
			push++
		case k < 6: // a client frame: an epoll edge, echoed by OnMessage
			if _, err := cl.conn.Write(frame(ws.OpBinary, true, msg('e', echo*2))); err != nil {
				return err
			}
			if err := expect('e', echo*2); err != nil {
				return err
			}
			echo++
		default: // paused while the frame arrives, then resumed
			c.PauseRead()
			if _, err := cl.conn.Write(frame(ws.OpBinary, true, msg('e', echo*2))); err != nil {
				return err
			}
			if r.IntN(2) == 0 {
				time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
			}
			c.ResumeRead()
			if err := expect('e', echo*2); err != nil {
				return err
			}
			echo++
		}
	}
	return nil
}

func readFull(cl *client, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := cl.r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
