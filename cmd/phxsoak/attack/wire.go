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

// replySocket is an upgraded attack socket whose replies a goroutine reads
// and counts (readReplies) while the attack writes.
type replySocket struct {
	*wsConn
	replies atomic.Int64
	done    chan struct{} // closed when the reader ends (server close, EOF)
	stop    func() bool   // undoes closeOnDone
}

// openReplySocket upgrades socket i with query, records the upgrade's
// status and starts the reply reader; nil when the socket did not open.
// The socket is closed when life ends.
func openReplySocket(life context.Context, t Target, rec *recorder, i int, query string) *replySocket {
	c, status, err := dialWS(life, t, i, upgrade{Query: query}, rec)
	if err == nil {
		rec.http("upgrade", status)
	}
	if err != nil || c == nil {
		return nil
	}
	s := &replySocket{wsConn: c, done: make(chan struct{}), stop: closeOnDone(life, c)}
	go func() { defer close(s.done); readReplies(c, rec, &s.replies) }()
	return s
}

// awaitReplies waits until more than n replies arrived; false when the
// reader ended (the server closed the socket) or life ended first.
func (s *replySocket) awaitReplies(life context.Context, n int64) bool {
	for s.replies.Load() <= n && life.Err() == nil {
		select {
		case <-s.done:
			return false
		case <-time.After(time.Millisecond):
		}
	}
	return life.Err() == nil
}

// finish closes the socket and waits for its reader.
func (s *replySocket) finish() {
	s.stop()
	_ = s.Close()
	<-s.done
}

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
	s := openReplySocket(life, t, rec, i, "vsn=2.0.0&token=user:soak_topic"+strconv.Itoa(i))
	if s == nil {
		return false
	}
	defer s.finish()
	pad := strings.Repeat("t", TopicSize)
	for j := range per {
		ref := strconv.FormatInt(j+1, 10)
		topic := "room:" + strconv.Itoa(i) + "_" + ref + "_" + pad
		b := pushFrame(ref, ref, topic[:TopicSize], "phx_join", "{}")
		if _, err := s.Write(b); err != nil {
			break
		}
		rec.wrote(len(b))
		if !s.awaitReplies(life, j) { // one join per answer
			return true
		}
	}
	select {
	case <-s.done: // the server closed the socket
	case <-life.Done():
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
	s := openReplySocket(life, t, rec, i, "vsn=2.0.0&token=user:soak_bad"+strconv.Itoa(i))
	if s == nil {
		return false
	}
	defer s.finish()
	pad := strings.Repeat("u", 4096)
	var written int64
	for k := 0; life.Err() == nil && sent.Load() < budget; k++ {
		// stay at most 256 joins ahead of the replies: a log flood, not a
		// slow-consumer test
		if written > 256 && !s.awaitReplies(life, written-257) {
			return true
		}
		ref := strconv.Itoa(k + 1)
		b := pushFrame(ref, ref, "nope:"+ref+pad, "phx_join", "{}")
		if _, err := s.Write(b); err != nil {
			break
		}
		written++
		sent.Add(1)
		rec.wrote(len(b))
	}
	return true
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
