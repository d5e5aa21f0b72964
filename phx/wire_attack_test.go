package phx

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Attacks on the inbound limits over real WebSockets on loopback: the
// bounds are asserted (memory retained, close codes read off the wire), not
// only survival.

// startWire serves srv on a loopback listener and returns its address.
func startWire(t *testing.T, srv *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln, nil) }()
	t.Cleanup(func() {
		_ = srv.Close()
		_ = ln.Close()
		<-served
	})
	return ln.Addr().String()
}

// wireClient is a raw V2 WebSocket client.
type wireClient struct {
	t    testing.TB
	conn net.Conn
	br   io.Reader
}

func dialWire(t testing.TB, addr string) *wireClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, "ws://"+addr+"/socket/websocket?vsn=2.0.0")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &wireClient{t: t, conn: conn, br: conn}
	if br != nil {
		c.br = io.MultiReader(br, conn)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *wireClient) send(s string) error {
	return wsutil.WriteClientMessage(c.conn, ws.OpText, []byte(s))
}

// frame reads the next frame off the wire (server frames are unmasked).
func (c *wireClient) frame() (ws.OpCode, []byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return 0, nil, err
	}
	if h.Length > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", h.Length)
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(c.br, p)
	return h.OpCode, p, err
}

// text returns the next frame, which must be a text frame.
func (c *wireClient) text() (string, error) {
	op, p, err := c.frame()
	switch {
	case err != nil:
		return "", err
	case op != ws.OpText:
		return "", fmt.Errorf("got %v frame %q, want text", op, p)
	}
	return string(p), nil
}

// expectText reads the next frame and compares it byte for byte.
func (c *wireClient) expectText(want string) {
	c.t.Helper()
	got, err := c.text()
	if err != nil || got != want {
		c.t.Fatalf("got %.200q, %v\nwant %.200q", got, err, want)
	}
}

// expectClose reads the close frame and returns its code and reason.
func (c *wireClient) expectClose() (int, string) {
	c.t.Helper()
	op, p, err := c.frame()
	if err != nil || op != ws.OpClose || len(p) < 2 {
		c.t.Fatalf("got %v frame %q, %v; want a close frame with a code", op, p, err)
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}

// heapAfterGC is the live heap after a full collection.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestAttackHugeTopics: several sockets each join many channels whose
// topics are 256 KiB (the route room:* matches them all). Every join must be
// refused with "topic too long", the sockets must stay open, and the heap
// held afterwards must not grow with what was sent (40 MiB here; before the
// limit every topic was kept by its channel).
func TestAttackHugeTopics(t *testing.T) {
	const (
		sockets  = 4
		joins    = 40
		topicLen = 256 << 10
	)
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", &testChannel{})
	addr := startWire(t, srv)
	clients := make([]*wireClient, sockets)
	for i := range clients {
		clients[i] = dialWire(t, addr)
	}
	before := heapAfterGC()

	var wg sync.WaitGroup
	errs := make(chan error, sockets)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := padTo(fmt.Sprintf("room:%d:", i), topicLen)
			for j := range joins {
				ref := fmt.Sprintf(`"%d"`, j)
				if err := c.send(`[` + ref + `,` + ref + `,"` + topic + `","phx_join",{}]`); err != nil {
					errs <- err
					return
				}
				want := `[null,` + ref + `,"","phx_reply",{"response":{"reason":"topic too long"},"status":"error"}]`
				if got, err := c.text(); err != nil || got != want {
					errs <- fmt.Errorf("socket %d join %d: got %.120q, %v", i, j, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	after := heapAfterGC()
	sent := uint64(sockets * joins * topicLen)
	grown := int64(after) - int64(before)
	t.Logf("sent %d KiB of topics; live heap %d → %d KiB", sent>>10, before>>10, after>>10)
	if limit := int64(sent / 8); grown > limit {
		t.Fatalf("live heap grew %d bytes after %d bytes of topics (limit %d): topics are kept", grown, sent, limit)
	}
	// Still open, still served; and so is a fresh client.
	for _, c := range append(clients, dialWire(t, addr)) {
		if err := c.send(`["1","h","room:ok","phx_join",{}]`); err != nil {
			t.Fatal(err)
		}
		c.expectText(`["1","h","room:ok","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	}
	if n := srv.Stats().OpenSockets; n != sockets+1 {
		t.Fatalf("%d sockets open, want %d", n, sockets+1)
	}
}

// TestAttackLongRefCloses1008: a ref no reply may echo closes that socket
// with 1008 and "ref too long", read off the wire; a bystander goes on.
func TestAttackLongRefCloses1008(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", &testChannel{})
	addr := startWire(t, srv)
	bystander := dialWire(t, addr)
	for i, frame := range []string{
		`["1",` + jsonRef(65) + `,"room:a","phx_join",{}]`,
		`[` + jsonRef(65) + `,"1","room:a","phx_join",{}]`,
		`[null,"` + strings.Repeat("9", 1<<19) + `","phoenix","heartbeat",{}]`,
	} {
		c := dialWire(t, addr)
		if err := c.send(frame); err != nil {
			t.Fatal(err)
		}
		if code, reason := c.expectClose(); code != int(ClosePolicyViolation) || reason != "ref too long" {
			t.Fatalf("case %d: close %d %q, want %d \"ref too long\"", i, code, reason, ClosePolicyViolation)
		}
		if err := bystander.send(fmt.Sprintf(`[null,"%d","phoenix","heartbeat",{}]`, i)); err != nil {
			t.Fatal(err)
		}
		bystander.expectText(fmt.Sprintf(`[null,"%d","phoenix","phx_reply",{"response":{},"status":"ok"}]`, i))
	}
}
