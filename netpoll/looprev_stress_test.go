package netpoll

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// stressHandler echoes every message (Send or SendNow, sometimes after a
// sleep long enough for the watchdog to replace the worker) and counts
// OnMessage after OnClose, which must never happen.
type stressHandler struct {
	mu      sync.Mutex
	conns   []*Conn
	opened  chan struct{}
	closed  sync.Map // *Conn → struct{}
	late    atomic.Int32
	doubled atomic.Int32
}

func (h *stressHandler) OnOpen(c *Conn) {
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	h.opened <- struct{}{}
}

func (h *stressHandler) OnMessage(c *Conn, op OpCode, p []byte) {
	if _, ok := h.closed.Load(c); ok {
		h.late.Add(1)
	}
	seq := binary.BigEndian.Uint32(p[4:])
	if seq%97 == 13 {
		time.Sleep(3 * time.Millisecond) // over two task budgets: replaced
	}
	out := append([]byte(nil), p...)
	if seq%2 == 0 {
		_ = c.SendNow(op, out)
	} else {
		_ = c.Send(op, out)
	}
}

func (h *stressHandler) OnClose(c *Conn, _ int, _ string) {
	if _, dup := h.closed.LoadOrStore(c, struct{}{}); dup {
		h.doubled.Add(1)
	}
}

// TestStressNoLostWakeups drives the loop through every hand-over at once:
// few workers, many connections whose echoes arrive in bursts that cross
// the per-task read budget, pushes from other goroutines through the run
// queue, handlers that sleep past the watchdog's budget, and random
// pauses and resumes. Every echo and every push must arrive, each stream
// in order, in bounded time: an edge or a push lost while a poller parks,
// a worker goes idle or a batch is handed over shows as a stream that
// stops.
func TestStressNoLostWakeups(t *testing.T) {
	const (
		nConns  = 48
		echoes  = 150 // per connection
		pushes  = 150 // per connection, from the pusher goroutines
		pushers = 4
	)
	h := &stressHandler{opened: make(chan struct{}, nConns)}
	_, addr := startServer(t, Config{Workers: 2, ReadPauseBytes: 16 << 10,
		WriteQueueBytes: 64 << 20, PauseTimeout: time.Minute}, acceptAll(h), nil)

	type peer struct {
		cl   *client
		done chan error
	}
	peers := make([]peer, nConns)
	for i := range peers {
		peers[i] = peer{cl: dial(t, addr), done: make(chan error, 1)}
		<-h.opened
	}
	h.mu.Lock()
	conns := append([]*Conn(nil), h.conns...)
	h.mu.Unlock()

	// Readers: echo frames (tag 'e') and pushes (tag 'p') in order, each.
	for i := range peers {
		p := peers[i]
		go func() {
			br := bufio.NewReaderSize(p.cl.conn, 64<<10)
			var next [2]uint32
			for next[0] < echoes || next[1] < pushes {
				_ = p.cl.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				hd, err := ws.ReadHeader(br)
				if err != nil {
					p.done <- fmt.Errorf("after %d echoes, %d pushes: %v", next[0], next[1], err)
					return
				}
				b := make([]byte, hd.Length)
				if _, err = io.ReadFull(br, b); err != nil || len(b) < 8 {
					p.done <- fmt.Errorf("short frame: %v", err)
					return
				}
				k := 0
				if b[0] == 'p' {
					k = 1
				}
				if seq := binary.BigEndian.Uint32(b[4:]); seq != next[k] {
					p.done <- fmt.Errorf("stream %c: got %d, want %d", b[0], seq, next[k])
					return
				}
				next[k]++
			}
			p.done <- nil
		}()
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	// Pushers: each owns every pushers-th connection, so its order holds.
	for g := range pushers {
		bg.Add(1)
		go func() {
			defer bg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for seq := range uint32(pushes) {
				for i := g; i < nConns; i += pushers {
					p := make([]byte, 8+r.IntN(2000))
					p[0] = 'p'
					binary.BigEndian.PutUint32(p[4:], seq)
					if err := conns[i].Send(OpBinary, p); err != nil {
						t.Errorf("push to %d: %v", i, err)
						return
					}
				}
				if r.IntN(8) == 0 {
					time.Sleep(time.Duration(r.IntN(300)) * time.Microsecond)
				}
			}
		}()
	}
	// Pauser: random PauseRead/ResumeRead, everything resumed at the end.
	bg.Add(1)
	go func() {
		defer bg.Done()
		r := rand.New(rand.NewPCG(99, 2))
		for {
			select {
			case <-stop:
				for _, c := range conns {
					c.ResumeRead()
				}
				return
			default:
			}
			c := conns[r.IntN(nConns)]
			c.PauseRead()
			time.Sleep(time.Duration(r.IntN(2000)) * time.Microsecond)
			c.ResumeRead()
		}
	}()
	// Writers: each connection's echoes in random bursts, some far over
	// the 256 KiB a task reads.
	var wr sync.WaitGroup
	for i := range peers {
		wr.Add(1)
		go func() {
			defer wr.Done()
			r := rand.New(rand.NewPCG(uint64(i), 3))
			var burst []byte
			for seq := range uint32(echoes) {
				n := 8 + r.IntN(500)
				if r.IntN(20) == 0 {
					n = 8 + r.IntN(100<<10)
				}
				p := make([]byte, n)
				p[0] = 'e'
				binary.BigEndian.PutUint32(p[4:], seq)
				burst = append(burst, frame(ws.OpBinary, true, p)...)
				if r.IntN(10) == 0 || seq == echoes-1 {
					if _, err := peers[i].cl.conn.Write(burst); err != nil {
						t.Errorf("write %d: %v", i, err)
						return
					}
					burst = burst[:0]
					time.Sleep(time.Duration(r.IntN(500)) * time.Microsecond)
				}
			}
		}()
	}
	wr.Wait()
	deadline := time.After(60 * time.Second)
	for i, p := range peers {
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("connection %d: %v", i, err)
			}
		case <-deadline:
			t.Fatalf("connection %d: streams incomplete after 60 s (a lost wake-up)", i)
		}
	}
	close(stop)
	bg.Wait()
	for _, p := range peers {
		_ = p.cl.conn.Close()
	}
	eventually(t, "every OnClose", func() bool {
		n := 0
		h.closed.Range(func(any, any) bool { n++; return true })
		return n == nConns
	})
	if h.late.Load() != 0 || h.doubled.Load() != 0 {
		t.Fatalf("%d OnMessage after OnClose, %d OnClose twice", h.late.Load(), h.doubled.Load())
	}
}
