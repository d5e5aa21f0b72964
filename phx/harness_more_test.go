package phx

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/phxgo/phxgo/serializer"
)

// Harness helpers shared by the channel tests and the fan-out benchmark
// (they lived with the presence tests before Presence became package
// phx/presence).

// join joins topic with join_ref = ref = jr and reads the reply.
func (h *harness) join(topic, jr string) {
	h.t.Helper()
	h.in(fmt.Sprintf(`[%q,%q,%q,"phx_join",{}]`, jr, jr, topic))
	h.expect(fmt.Sprintf(`[%q,%q,%q,"phx_reply",{"response":{},"status":"ok"}]`, jr, jr, topic))
}

// joinV is join in the harness's serializer version.
func (h *harness) joinV(topic, jr string) {
	h.t.Helper()
	h.in(h.frame(jr, jr, topic, "phx_join"))
	m := h.nextMsg()
	if m.Kind != serializer.KindReply || m.Status != "ok" || m.Topic != topic {
		h.t.Fatalf("join %s: got %+v", topic, m)
	}
}

// frame is a client push with an empty payload in the harness's version.
func (h *harness) frame(jr, ref, topic, event string) string {
	h.t.Helper()
	out, _, err := serializer.EncodeClient(h.ver, nil, &serializer.Message{Kind: serializer.KindPush,
		JoinRef: []byte(`"` + jr + `"`), Ref: []byte(`"` + ref + `"`), Topic: topic, Event: event,
		Payload: []byte(`{}`)})
	if err != nil {
		h.t.Fatal(err)
	}
	return string(out)
}

func (h *harness) nextMsg() serializer.Message {
	h.t.Helper()
	f := h.next()
	m, err := serializer.DecodeServer(h.ver, []byte(f), false)
	if err != nil {
		h.t.Fatalf("bad frame %s: %v", f, err)
	}
	return m
}

// countingTransport counts what a socket writes and drops it.
type countingTransport struct {
	frames, bytes, states atomic.Int64
}

func (c *countingTransport) sendReply(b bool, p []byte) error { return c.send(b, p) }

func (c *countingTransport) send(_ bool, p []byte) error {
	c.frames.Add(1)
	c.bytes.Add(int64(len(p)))
	if bytes.Contains(p[:min(len(p), 80)], []byte(`"presence_state"`)) {
		c.states.Add(1)
	}
	return nil
}
func (c *countingTransport) close(CloseCode, string) {}
func (c *countingTransport) name() string            { return "count" }
func (c *countingTransport) pauseRead()              {}
func (c *countingTransport) resumeRead()             {}

// benchSockets opens n sockets (users u0…) with counting transports.
func benchSockets(srv *Server, n int) ([]*Socket, []*countingTransport) {
	socks, trs := make([]*Socket, n), make([]*countingTransport, n)
	info := &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
	for i := range socks {
		socks[i] = srv.newSocket(info, serializer.V2, NewAssigns("user_id", fmt.Sprintf("u%d", i)))
		trs[i] = &countingTransport{}
		srv.opened(socks[i], trs[i])
	}
	return socks, trs
}

func sumFrames(trs []*countingTransport) (frames, bytes int64) {
	for _, tr := range trs {
		frames += tr.frames.Load()
		bytes += tr.bytes.Load()
	}
	return frames, bytes
}
