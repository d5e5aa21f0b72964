package netpoll

import (
	"bytes"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
)

// refuseBomb sends the compressed bomb frame f on c and checks that it is
// closed with 1009 (also in OnClose) while the server allocates no more
// than a few times limit for it: the inflated output grows by doubling up
// to limit+1 (≈2×limit in all), plus the compressed message itself; an
// inflater without the bound would allocate the whole bomb.
func refuseBomb(t *testing.T, c *client, rec *recorder, f []byte, limit uint64) {
	t.Helper()
	rec.waitOpen(t)
	runtime.GC()
	before := totalAlloc()
	c.write(f)
	c.expectClose(CloseTooBig, "message too big")
	_ = c.conn.Close()
	if ev := rec.waitClose(t); ev.code != CloseTooBig {
		t.Fatalf("OnClose code %d", ev.code)
	}
	grew := totalAlloc() - before
	t.Logf("allocated %d KiB while refusing the bomb (limit %d KiB)", grew>>10, limit>>10)
	if grew > 4*limit {
		t.Fatalf("allocated %d bytes for a bomb, limit %d", grew, limit)
	}
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// A 100 KB frame that inflates to 100 MB is closed with 1009, and the
// server never allocates much more than the limit for it.
func TestDeflateBomb(t *testing.T) {
	const limit = 1 << 20
	rec := newRecorder(false)
	cfg := deflateOn
	cfg.MaxFrameSize = limit
	_, addr := startServer(t, cfg, acceptAll(rec), nil)
	bomb := clientDeflate(t, make([]byte, 100<<20), flate9)
	if len(bomb) > 200<<10 {
		t.Fatalf("bomb is %d bytes", len(bomb))
	}
	f := rsvFrame(ws.OpBinary, true, 0x4, bomb)
	c, _ := upgradeDeflate(t, addr, "permessage-deflate")
	refuseBomb(t, c, rec, f, limit)
	select {
	case m := <-rec.msgs:
		t.Fatalf("bomb delivered (%d bytes)", len(m.payload))
	default:
	}
}

const flate9 = 9

// The inflated size is checked exactly: limit bytes pass, limit+1 fail.
func TestDeflateInflatedLimitEdge(t *testing.T) {
	const limit = 64 << 10
	rec := newRecorder(false)
	cfg := deflateOn
	cfg.MaxFrameSize = limit
	_, addr := startServer(t, cfg, acceptAll(rec), nil)
	c, _ := upgradeDeflate(t, addr, "permessage-deflate")
	rec.waitOpen(t)
	at := bytes.Repeat([]byte("z"), limit)
	c.write(rsvFrame(ws.OpBinary, true, 0x4, clientDeflate(t, at, 6)))
	if m := rec.waitMsg(t); len(m.payload) != limit {
		t.Fatalf("got %d bytes", len(m.payload))
	}
	c.write(rsvFrame(ws.OpBinary, true, 0x4, clientDeflate(t, append(at, 'z'), 6)))
	c.expectClose(CloseTooBig, "message too big")
}

// countHandler counts messages and their bytes.
type countHandler struct {
	recorder
	n, bytes atomic.Int64
}

func (h *countHandler) OnMessage(_ *Conn, _ OpCode, p []byte) {
	h.n.Add(1)
	h.bytes.Add(int64(len(p)))
}

// A stream of tiny compressed messages costs no inflater each: the pooled
// one is reset, not rebuilt (flate.NewReader allocates 43 KiB).
func TestDeflateTinyFrames(t *testing.T) {
	h := &countHandler{recorder: *newRecorder(false)}
	_, addr := startServer(t, deflateOn, acceptAll(h), nil)
	c, _ := upgradeDeflate(t, addr, "permessage-deflate")
	h.waitOpen(t)
	one := rsvFrame(ws.OpText, true, 0x4, clientDeflate(t, []byte("hi"), 6))
	const n = 5000
	stream := bytes.Repeat(one, n)
	runtime.GC()
	before := totalAlloc()
	c.write(stream)
	eventually(t, "every tiny message", func() bool { return h.n.Load() == n })
	per := float64(totalAlloc()-before) / n
	t.Logf("%.0f bytes allocated per tiny compressed message", per)
	if h.bytes.Load() != 2*n {
		t.Fatalf("%d bytes delivered", h.bytes.Load())
	}
	if raceEnabled {
		return // sync.Pool drops items at random under -race; the test command reruns without it
	}
	if per > 2048 {
		t.Fatalf("%.0f bytes allocated per tiny compressed message", per)
	}
}

// An idle connection that negotiated compression, and used it, holds no
// more memory than a plain one: the inflater went back to the pool.
func TestDeflateIdleMemory(t *testing.T) {
	const conns = 200
	measure := func(cfg Config, offer string, send func(c *client)) float64 {
		h := &countHandler{recorder: *newRecorder(false)}
		s, addr := startServer(t, cfg, acceptAll(h), nil)
		base := heapInuse()
		cs := make([]*client, conns)
		for i := range cs {
			cs[i], _ = upgradeDeflate(t, addr, offer)
			send(cs[i])
		}
		eventually(t, "messages", func() bool { return h.n.Load() == conns })
		per := float64(heapInuse()-base) / conns
		for _, c := range cs {
			_ = c.conn.Close()
		}
		eventually(t, "closes", func() bool { return s.Stats().Conns == 0 })
		return per
	}
	msg := []byte(strings.Repeat("idle after one message ", 10))
	plain := measure(Config{}, "", func(c *client) { c.send(ws.OpText, msg) })
	z := clientDeflate(t, msg, 6)
	comp := measure(deflateOn, "permessage-deflate", func(c *client) {
		c.write(rsvFrame(ws.OpText, true, 0x4, z))
	})
	t.Logf("heap per idle connection (server and test client): plain %.0f B, compressed %.0f B", plain, comp)
	if raceEnabled {
		return // sync.Pool drops and remakes inflaters at random under -race; the test command reruns without it
	}
	if comp-plain > 2048 {
		t.Fatalf("an idle compressed connection holds %.0f bytes more than a plain one", comp-plain)
	}
}
