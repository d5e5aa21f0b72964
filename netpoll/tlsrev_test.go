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
	for head := []byte(nil); !bytes.Contains(head, []byte("\r\n\r\n")); {
		_, p, err := m.next()
		if err != nil {
			t.Fatal(err)
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
		for head := []byte(nil); !bytes.Contains(head, []byte("\r\n\r\n")); {
			_, p, err := m.next()
			if err != nil {
				t.Fatalf("no 101: %v", err)
			}
			head = append(head, p...)
		}
		rec.waitOpen(t)
	}
}
