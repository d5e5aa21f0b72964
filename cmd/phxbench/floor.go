package main

import (
	"fmt"
	"strings"

	"github.com/gobwas/ws"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/baseline"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/floor"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/promtext"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/wire"
)

// -floor: after an echo or connect built-in run, the same path's syscall
// floor (package floor) under the same arrival pattern and message sizes,
// so that the server's CPU per event can be read as a multiple of it.

// addFloor measures the floor of the run's built-in scenario.
// For echo, the server under test is then measured by the floor's client
// too (floortarget.go).
func addFloor(r *engine.Result, o *options, src [][4]byte, serverURL string) error {
	switch o.scenario {
	case "echo":
		if o.b.Binary {
			return fmt.Errorf("-floor: echo measures text frames only")
		}
		req, resp := echoSizes(o.b.TopicOr("bench:echo"), o.b.Size)
		e, err := floor.MeasureEcho(floor.EchoOptions{N: o.b.N, Rate: o.b.Rate, D: min(o.floorD, o.b.D),
			Req: req, Resp: resp, Src: src})
		if err != nil {
			return err
		}
		r.Floor = &floor.Result{Echo: e}
		pid := 0
		if len(o.pids) > 0 {
			pid = o.pids[0]
		}
		t, req, resp, err := echoTarget(serverURL, pid, o.b.TopicOr("bench:echo"), o.b.Size)
		if err != nil {
			return fmt.Errorf("the server with the floor's client: %w", err)
		}
		if r.Floor.Server, err = floor.MeasureEcho(floor.EchoOptions{N: o.b.N, Rate: o.b.Rate,
			D: min(o.floorD, o.b.D), Req: req, Resp: resp, Src: src, Target: t}); err != nil {
			return fmt.Errorf("the server with the floor's client: %w", err)
		}
	case "connect":
		c, err := floor.MeasureConnect(floor.ConnectOptions{N: o.b.N, Rate: o.b.Rate, Src: src,
			Sizes: connectSizes(o.b.TopicOr("bench:connect"))})
		if err != nil {
			return err
		}
		r.Floor = &floor.Result{Connect: c}
	default:
		return fmt.Errorf("-floor applies to the echo and connect built-ins, not %q", o.scenario)
	}
	return nil
}

// echoSizes are the sizes on the wire of one echo push of the echo
// built-in and of its reply (text frames, two-digit refs and seq as most
// of a 10 s run's are): the client frame is masked (6-byte header), the
// server's is not (2 bytes).
func echoSizes(topic string, size int) (req, resp int) {
	push, reply := echoFrames(topic, size)
	req = len(wire.AppendClientFrame(nil, ws.OpText, []byte(push), [4]byte{}))
	resp = len(wire.AppendServerFrame(nil, ws.OpText, []byte(reply)))
	return req, resp
}

// echoFrames are the echo push with a two-digit ref and its reply.
func echoFrames(topic string, size int) (push, reply string) {
	pl := fmt.Sprintf(`{"body":%q,"seq":"12"}`, strings.Repeat("x", max(0, size)))
	push = fmt.Sprintf(`["1","12",%q,"echo",%s]`, topic, pl)
	reply = fmt.Sprintf(`["1","12",%q,"phx_reply",{"response":%s,"status":"ok"}]`, topic, pl)
	return push, reply
}

// framesPerWritev reads phxd's frames per writev(2) during the run (its
// counters before the run are before) from its /metrics; 0 when either
// read failed.
func framesPerWritev(url string, before map[string]float64) float64 {
	d := promtext.Delta(promtext.Scrape(url, "phxgo_"), before)
	if d["phxgo_writev_calls_total"] <= 0 {
		return 0
	}
	return d["phxgo_frames_out_total"] / d["phxgo_writev_calls_total"]
}

// addBytesFloor is -baseline with the connect built-in (a room with
// presence, where the bytes are the cost): the bytes the clients received,
// written to as many sockets as joined, one frame of the mean size per
// call, in as many write(2) calls as phxd made during the run
// (phxgo_writev_calls_total from -metrics, counted from before the run) or
// as it sent frames (phxgo_frames_out_total), whichever is fewer: its
// count of calls includes the ones a full socket cut short, which a
// blocking writer does not make. Its CPU per join is the floor of the
// server's.
func addBytesFloor(r *engine.Result, o *options, src [][4]byte, before map[string]float64) error {
	if o.metrics == "" {
		return fmt.Errorf("-baseline with connect needs -metrics, for the server's writev(2) count")
	}
	d := promtext.Delta(promtext.Scrape(o.metrics, "phxgo_"), before)
	if d == nil {
		return fmt.Errorf("could not read the server's counters from %s before and after the run", o.metrics)
	}
	calls := d["phxgo_writev_calls_total"]
	if f := d["phxgo_frames_out_total"]; f >= 1 && f < calls {
		calls = f
	}
	if calls < 1 {
		return fmt.Errorf("no phxgo_writev_calls_total and phxgo_frames_out_total counted from %s during the run", o.metrics)
	}
	joined := r.Counters.Joined
	if joined < 1 || r.Counters.BytesIn < 1 {
		return fmt.Errorf("-baseline with connect: nothing joined or received")
	}
	size := max(int(float64(r.Counters.BytesIn)/calls+0.5), 2)
	b, err := baseline.Measure(int(joined), 1, baseline.SizedFrame(size), 0, src)
	if err != nil {
		return err
	}
	b.ServerCalls = int64(calls)
	b.CPUPerJoinUS = b.CPUPerWriteUS * calls / float64(joined)
	r.Baseline = b
	return nil
}

// connectSizes are the sizes on the wire of one connect+join of the connect
// built-in against phxd: phxbench's upgrade request (token user:b12345,
// vsn 2.0.0), a 101 response with Upgrade, Connection and
// Sec-WebSocket-Accept, the masked join frame and the join reply.
func connectSizes(topic string) floor.ConnectSizes {
	key := strings.Repeat("k", 22) + "=="
	up := wire.AppendUpgrade(nil, "127.0.0.1:4400", "/socket/websocket?token=user%3Ab12345&vsn=2.0.0", key, "", "")
	sw := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		strings.Repeat("a", 27) + "=\r\n\r\n"
	join := fmt.Sprintf(`["1","1",%q,"phx_join",{}]`, topic)
	reply := fmt.Sprintf(`["1","1",%q,"phx_reply",{"response":{},"status":"ok"}]`, topic)
	return floor.ConnectSizes{
		Upgrade:   len(up),
		Switching: len(sw),
		Join:      len(wire.AppendClientFrame(nil, ws.OpText, []byte(join), [4]byte{})),
		JoinReply: len(wire.AppendServerFrame(nil, ws.OpText, []byte(reply))),
	}
}
