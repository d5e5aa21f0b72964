package netpoll

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// upgradeManual sends the upgrade request over m and reads the 101.
func upgradeManual(t *testing.T, m *manualTLS) {
	t.Helper()
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	skipHead(t, m)
}

// skipHead reads records until the end of a response head (any records:
// no check of their type or of the status).
func skipHead(t *testing.T, m *manualTLS) {
	t.Helper()
	for head := []byte(nil); !bytes.Contains(head, []byte("\r\n\r\n")); {
		_, p, err := m.next()
		if err != nil {
			t.Fatalf("no response head: %v", err)
		}
		head = append(head, p...)
	}
}

// sendRecords seals b into application data records of at most size
// plaintext bytes and writes them in one write.
func (m *manualTLS) sendRecords(b []byte, size int) {
	m.t.Helper()
	var out []byte
	for len(b) > 0 {
		k := min(size, len(b))
		out = m.wr.seal(out, recAppData, b[:k])
		b = b[k:]
	}
	if _, err := m.raw.Write(out); err != nil {
		m.t.Fatal(err)
	}
}

// inQueue is the number of bytes waiting in c's socket receive queue.
func inQueue(c *Conn) int {
	n, _ := unix.IoctlGetInt(int(c.fd), unix.SIOCINQ)
	return n
}

// Edge-triggered reads: after a read that filled the worker's buffer,
// the incomplete record kept from it goes first into the next read,
// which therefore asks for less than a whole buffer. A read that got all
// it asked for has not drained the socket, whatever its size: what is
// left must be read in the same task, since no new edge will announce
// it. The records wait in the kernel (the connection paused) so that the
// reads after the resume see them all at once.
func TestTLSReadDrainsAfterCarriedRecord(t *testing.T) {
	rec := newRecorder(false)
	rec.onOpen = func(c *Conn) { c.PauseRead() }
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	upgradeManual(t, m)
	c := rec.waitOpen(t)
	_ = syscall.SetsockoptInt(int(c.fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1<<20)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 250<<10/16)
	wire := frame(ws.OpBinary, true, msg)
	m.sendRecords(wire, maxPlainLen)
	want := len(wire) + (len(wire)/maxPlainLen+1)*(recHeaderLen+1+16)
	eventually(t, "records queued in the kernel", func() bool { return inQueue(c) >= want-64 })
	c.ResumeRead()
	got := rec.waitMsg(t)
	if !bytes.Equal(got.payload, msg) {
		t.Fatalf("message of %d bytes, want %d", len(got.payload), len(msg))
	}
}

// The request head read before the upgrade, one read per task: a head
// sent in tiny records fills the buffer with a few KiB of plaintext, and
// the records after them, already in the kernel, must still be read
// without waiting for another edge.
func TestTLSHeadInTinyRecords(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{HandshakeTimeout: time.Minute}, acceptAll(rec), nil)
	for range 3 {
		m := newManualTLS(t, addr)
		pad := "X-Pad: " + strings.Repeat("p", 12<<10) + "\r\n"
		req := []byte(upgradeRequest("/socket", pad))
		m.sendRecords(req, 1) // ~23 bytes of ciphertext per byte: ~290 KB
		skipHead(t, m)
		rec.waitOpen(t)
	}
}

// A paused TLS connection is not read: the handler pauses on the first
// message of a read; the rest of that read (the start of the next
// record, kept as ciphertext) waits with the kernel's bytes until
// ResumeRead, then the big message arrives whole.
func TestTLSPausedNotRead(t *testing.T) {
	rec := newRecorder(false)
	var paused *Conn
	first := true
	h := &funcHandler{recorder: rec, onMessage: func(c *Conn, _ []byte) bool {
		if first {
			first = false
			paused = c
			c.PauseRead()
		}
		return false
	}}
	s, addr := startTLSServer(t, Config{}, acceptAll(h), nil)
	m := newManualTLS(t, addr)
	upgradeManual(t, m)
	big := bytes.Repeat([]byte("b"), 300<<10)
	wire := append(frame(ws.OpText, true, []byte("pause")), frame(ws.OpBinary, true, big)...)
	m.sendRecords(wire, 1000) // the small frame's record, then many
	if got := rec.waitMsg(t); string(got.payload) != "pause" {
		t.Fatalf("first message %q", got.payload)
	}
	c := paused
	// Nothing more is read: the kernel keeps what the worker left.
	var q int
	eventually(t, "bytes left in the kernel", func() bool { q = inQueue(c); return q > 0 })
	time.Sleep(100 * time.Millisecond)
	if q2 := inQueue(c); q2 < q {
		t.Fatalf("paused socket read: %d bytes queued, then %d", q, q2)
	}
	select {
	case msg := <-rec.msgs:
		t.Fatalf("message of %d bytes while paused", len(msg.payload))
	default:
	}
	if st := s.Stats(); st.ReadPaused != 1 {
		t.Fatalf("ReadPaused %d", st.ReadPaused)
	}
	c.ResumeRead()
	if got := rec.waitMsg(t); !bytes.Equal(got.payload, big) {
		t.Fatalf("after resume: %d bytes, want %d", len(got.payload), len(big))
	}
}

// The output backlog pauses a TLS connection like any other: a client
// that sends pings and reads nothing stops being read once the pongs
// queued pass ReadPauseBytes, and stays unread while they wait.
func TestTLSBacklogPause(t *testing.T) {
	rec := newRecorder(false)
	s, addr := startTLSServer(t, Config{ReadPauseBytes: 64 << 10, WriteQueueBytes: 1 << 20},
		acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	upgradeManual(t, m)
	c := rec.waitOpen(t)
	setSndBuf(c, 4096)
	ping := frame(ws.OpPing, true, bytes.Repeat([]byte("p"), 125))
	var burst []byte
	for range 20000 { // 2.6 MB of pings: their pongs fill every buffer
		burst = append(burst, ping...)
	}
	var out []byte
	for b := burst; len(b) > 0; b = b[min(len(b), maxPlainLen):] {
		out = m.wr.seal(out, recAppData, b[:min(len(b), maxPlainLen)])
	}
	go func() { _, _ = m.raw.Write(out) }() // blocks once the server stops reading
	// Once every buffer on the way back is full, the socket stays
	// unread: what waits in the kernel only grows, for good.
	deadline := time.Now().Add(testWait)
	for stable, q := 0, 0; stable < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("never paused for good: %d bytes queued, %+v", q, s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
		q2 := inQueue(c)
		if s.Stats().ReadPaused == 1 && q2 > 0 && q2 >= q {
			stable++
		} else {
			stable = 0
		}
		q = q2
	}
	// At most one read's pongs beyond ReadPauseBytes.
	if st := s.Stats(); st.SlowConsumers != 0 || st.MaxQueuedBytes > 64<<10+80<<10 {
		t.Fatalf("queue grew past the pause: %+v", st)
	}
}
