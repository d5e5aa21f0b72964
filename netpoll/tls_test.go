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
		c.send(ws.OpText, p)
		if got := c.expectFrame(ws.OpText); !bytes.Equal(got, p) {
			t.Fatalf("echo of %d bytes: got %d bytes", n, len(got))
		}
	}
	c.send(ws.OpClose, closeBody(1000, "bye"))
	c.expectCloseEOF(1000, "")
}
