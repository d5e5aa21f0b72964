package phxredis

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// healthEvery is how often an idle publisher pings Redis, so that an
// outage is seen (and its end too) without traffic.
const healthEvery = time.Second

// publishLoop is the publisher goroutine: it drains the queue in batches
// of up to maxBatch messages (maxBatchBytes), each sent as one pipeline,
// one pipeline at a time, so one publisher's messages on a topic keep
// their order. While Redis is down it pings with backoff until it answers.
func (p *PubSub) publishLoop() {
	defer p.wg.Done()
	defer close(p.pubDone)
	batch := make([]outMsg, 0, maxBatch)
	idle := time.NewTimer(healthEvery)
	defer idle.Stop()
	attempt := 0
	for {
		select {
		case <-p.stopPub:
			p.flush(batch)
			return
		case m := <-p.queue:
			batch = append(batch[:0], m)
		case <-idle.C:
			err := p.ping()
			if err != nil {
				p.health.fail(compPublisher, err)
				attempt++
			} else {
				p.health.recover(compPublisher)
				attempt = 0
			}
			idle.Reset(p.pingDelay(attempt))
			continue
		}
		bytes := len(batch[0].data)
	drain:
		for len(batch) < maxBatch && bytes < maxBatchBytes {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
				bytes += len(m.data)
			default:
				break drain
			}
		}
		p.send(p.ctx, batch)
		p.queueBytes.Add(-int64(bytes))
		p.madeRoom()
		clear(batch) // let the envelopes go
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(p.pingDelay(attempt))
	}
}

// flushWait bounds how long Close spends publishing the queue.
const flushWait = time.Second

// flush publishes what is left in the queue, for at most flushWait, unless
// Redis is down.
func (p *PubSub) flush(batch []outMsg) {
	ctx, cancel := context.WithTimeout(p.ctx, flushWait)
	defer cancel()
	for p.health.up() && ctx.Err() == nil {
		batch = batch[:0]
		bytes := 0
	drain:
		for len(batch) < maxBatch {
			select {
			case m := <-p.queue:
				batch = append(batch, m)
				bytes += len(m.data)
			default:
				break drain
			}
		}
		if len(batch) == 0 {
			return
		}
		p.send(ctx, batch)
		p.queueBytes.Add(-int64(bytes))
	}
}

// pingDelay is the next health ping: every healthEvery while Redis is up,
// with backoff while it is down.
func (p *PubSub) pingDelay(attempt int) time.Duration {
	if p.health.up() {
		return healthEvery
	}
	return backoff(attempt)
}

func (p *PubSub) ping() error {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	return p.client.Ping(ctx).Err()
}

// send publishes batch as one pipeline and counts the outcome.
func (p *PubSub) send(ctx context.Context, batch []outMsg) {
	pipe := p.client.Pipeline()
	for _, m := range batch {
		if p.sharded {
			pipe.SPublish(ctx, m.channel, m.data)
		} else {
			pipe.Publish(ctx, m.channel, m.data)
		}
	}
	cmds, err := pipe.Exec(ctx)
	var failed uint64
	for _, c := range cmds {
		if c.Err() != nil {
			failed++
		}
	}
	if len(cmds) == 0 && err != nil {
		failed = uint64(len(batch))
	}
	p.stats.published.Add(uint64(len(batch)) - failed)
	p.stats.publishErrors.Add(failed)
	switch {
	case err == nil || isReply(err):
		p.health.recover(compPublisher) // Redis answered
	case ctx.Err() == nil:
		p.health.fail(compPublisher, err)
	}
}

// isReply reports whether err is an error reply of Redis (which answered,
// so is reachable) rather than a failure to reach it.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
