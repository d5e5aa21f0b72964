package netpoll

import (
	"bytes"
	"testing"

	"github.com/gobwas/ws"
)

func TestTLSEcho(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	c := dialTLS(t, addr)
	for _, n := range []int{0, 5, 125, 16 << 10, 16<<10 + 1, 200 << 10} {
		p := bytes.Repeat([]byte{'x'}, n)
		c.expectEcho(ws.OpText, p)
	}
	c.send(ws.OpClose, closeBody(1000, "bye"))
	c.expectCloseEOF(1000, "")
}

// A KeyUpdate that asks for ours: the server answers with its own under
// the old key, then both sides use the next keys; the connection goes on.
func TestTLSKeyUpdate(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	m.send(recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 1})
	if err := m.wr.update(); err != nil {
		t.Fatal(err)
	}
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	typ, p, err := m.next()
	if err != nil || typ != recHandshake || !bytes.Equal(p, []byte{hsKeyUpdate, 0, 0, 1, 0}) {
		t.Fatalf("want the server's KeyUpdate, got type %d %x %v", typ, p, err)
	}
	if err := m.rd.update(); err != nil {
		t.Fatal(err)
	}
	readHead101(t, m)
	// One more update without a request, then an echo under the newest keys.
	m.send(recHandshake, []byte{hsKeyUpdate, 0, 0, 1, 0})
	_ = m.wr.update()
	m.send(recAppData, frame(ws.OpText, true, []byte("after update")))
	typ, p, err = m.next()
	if err != nil || typ != recAppData || !bytes.Contains(p, []byte("after update")) {
		t.Fatalf("echo: type %d %q %v", typ, p, err)
	}
}

// What the record layer refuses: each gets its alert, then the socket is
// closed; another connection is not disturbed.
func TestTLSRefusedRecords(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	other := dialTLS(t, addr)
	cases := []struct {
		name  string
		send  func(m *manualTLS)
		alert uint8
	}{
		{"garbage", func(m *manualTLS) {
			_, _ = m.raw.Write(append([]byte{recAppData, 3, 3, 0, 40}, bytes.Repeat([]byte{7}, 40)...))
		}, alertBadRecordMAC},
		{"plaintext handshake", func(m *manualTLS) {
			_, _ = m.raw.Write([]byte{recHandshake, 3, 3, 0, 1, 0})
		}, alertUnexpectedMessage},
		{"oversized", func(m *manualTLS) {
			_, _ = m.raw.Write([]byte{recAppData, 3, 3, 0xff, 0xff})
		}, alertRecordOverflow},
		{"session ticket from a client", func(m *manualTLS) {
			m.send(recHandshake, []byte{4, 0, 0, 0})
		}, alertUnexpectedMessage},
		{"change cipher spec", func(m *manualTLS) { m.send(recCCS, []byte{1}) }, alertUnexpectedMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newManualTLS(t, addr)
			upgradeManual(t, m)
			tc.send(m)
			m.expectAlert(tc.alert)
			other.send(ws.OpText, []byte(tc.name))
			if got := other.expectFrame(ws.OpText); string(got) != tc.name {
				t.Fatalf("other connection: %q", got)
			}
		})
	}
}

// close_notify ends the connection (OnClose: 1006, no close handshake).
func TestTLSCloseNotify(t *testing.T) {
	rec := newRecorder(true)
	_, addr := startTLSServer(t, Config{}, acceptAll(rec), nil)
	m := newManualTLS(t, addr)
	m.send(recAppData, []byte(upgradeRequest("/socket")))
	rec.waitOpen(t)
	m.send(recAlert, []byte{1, alertCloseNotify})
	if ev := rec.waitClose(t); ev.code != CloseAbnormal {
		t.Fatalf("OnClose code %d", ev.code)
	}
	for {
		if _, _, err := m.next(); err != nil {
			break
		}
	}
}
