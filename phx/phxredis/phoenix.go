package phxredis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/phxgo/phx/etf"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// PhoenixOptions configures a Phoenix (see NewPhoenix). As everywhere in
// phxgo, 0 means the default.
type PhoenixOptions struct {
	// PubSubName is the Elixir app's PubSub name, as in its
	// {Phoenix.PubSub, name: MyApp.PubSub, adapter: Phoenix.PubSub.Redis}
	// ("MyApp.PubSub"; "Elixir.MyApp.PubSub" works too). Required.
	PubSubName string
	// NodeName is this node's node_name on the Phoenix channel, written
	// as an atom. It must differ from every other node's, Elixir or Go.
	// Default: the PubSub's Node.
	NodeName string
	// MaxMessageBytes bounds a message of the Phoenix channel, read or
	// written, and a compressed one once inflated (default 8 MiB).
	MaxMessageBytes int
	// QueueLength bounds the messages waiting to be published (default
	// 16384) and QueueBytes their bytes (default 64 MiB); a broadcast
	// finding the queue full is delivered on the phxgo side only
	// (ErrQueueFull).
	QueueLength int
	QueueBytes  int
	// CompressionLevel compresses what this node writes (0 to 9, like
	// phoenix_pubsub_redis's :compression_level; default 0).
	CompressionLevel int
	// Logger receives the outage lines (default: the PubSub's).
	Logger *slog.Logger
}

// PhoenixStats counts a Phoenix's traffic on the Phoenix channel.
type PhoenixStats struct {
	// Published counts messages Redis took; PublishErrors those it did
	// not (Redis down, failed pipeline); PublishDropped the broadcasts
	// never queued (payload without a term, too large, queue full,
	// closed).
	Published, PublishErrors, PublishDropped uint64
	// Received counts the broadcasts delivered here. Echoes counts this
	// node's own messages heard back, NotForUs the :only messages for
	// other nodes: both ignored, as Elixir nodes do. Unwatched counts the
	// broadcasts on topics this node has no subscriber of (every node
	// hears every broadcast of the app): their message is not decoded.
	Received, Echoes, NotForUs, Unwatched uint64
	// Skipped counts well-formed messages phxgo takes no part in:
	// Phoenix.Tracker (presence) traffic and other dispatchers, messages
	// that are not a %Phoenix.Socket.Broadcast{}, presence_diff.
	Skipped uint64
	// Dropped counts the rest: malformed, oversized (compressed or not),
	// or a Broadcast whose payload has no JSON form (Unencodable counts
	// those among them).
	Dropped, Unencodable uint64
	// Reconnects counts the Phoenix channel's connection coming back
	// after a failure (an unanswered ping included).
	Reconnects uint64
}

// Phoenix is a pubsub.PubSub that puts phxgo nodes and Elixir nodes
// running phoenix_pubsub_redis (3.x, Phoenix 1.7 and later) into one
// cluster on one Redis:
//
//	ps, _ := phxredis.NewPubSub(rdb, phxredis.PubSubOptions{Node: "go1"})
//	ph, _ := phxredis.NewPhoenix(ps, phxredis.PhoenixOptions{PubSubName: "MyApp.PubSub"})
//	srv := phx.NewServer(phx.Config{PubSub: ph, ...})
//
// # The Phoenix format
//
// Every node, Elixir or Go, publishes and subscribes on one channel,
// "phx:" and the adapter's module name (PhoenixChannel: for MyApp.PubSub,
// "phx:Elixir.MyApp.PubSub.Adapter"). A message is term_to_binary of
// {3, mode, node_name, topic, message, dispatcher}: mode :except for a
// broadcast from node_name (which skips its own copy) or :only for a
// message to node_name alone. A channel broadcast, Endpoint.broadcast or
// a socket's "disconnect" on its id topic (users_socket:<id>), is
// message %Phoenix.Socket.Broadcast{topic, event, payload} with dispatcher
// Phoenix.Channel.Server.
//
// Broadcast delivers on this node, then publishes the broadcast once on
// that channel as :except with NodeName as an atom (uncompressed unless
// CompressionLevel is set). The other nodes, Elixir and phxgo alike, hear
// it there once: phxgo nodes need not tell phxgo senders from Elixir ones,
// since in this mode their broadcasts travel in the Phoenix format only,
// never also in phxgo's own. The one exception is presence_diff, which
// stays in phxgo's format (see Presence below). Every phxgo node on the
// Redis must therefore use Phoenix with the same PubSubName.
//
// Received are the :except messages of other nodes and the :only messages
// naming this node (by NodeName, written as an atom or a binary); this
// node's own echoes and :only messages for other nodes are ignored, as an
// Elixir node ignores them. Every node hears every broadcast of the app:
// one on a topic without a subscriber here is counted (Unwatched) and its
// message not decoded. Delivery across nodes is at most once, and one
// node's broadcasts keep their order.
//
// # Payloads
//
// An Elixir node sends its clients a payload as Jason encodes it, so a
// received payload becomes the JSON Jason would write: nil, true and
// false as null, true and false, other atoms as strings, binaries as
// strings (valid UTF-8 only), integers of any size as numbers, floats as
// Jason writes them (float_to_binary(f, [:short]): "1.0", "1.0e3"), lists
// as arrays, maps as objects whose keys are binaries, atoms or numbers
// (written as strings), keys sorted by their text.
// Calendar structs (Date, Time, NaiveDateTime, DateTime in the ISO
// calendar) become their ISO 8601 strings, as Jason writes them. Jason
// cannot encode tuples, pids, references, funs or invalid UTF-8, and
// encodes other structs only as the app derived it, which the term does
// not show. Phoenix's serializer wants the payload to be a map or
// {:binary, data}, and phxgo's broadcasts carry a JSON object, so a
// struct as the whole payload (a string once Jason has written it) is
// refused too. A Broadcast with any of these, or with two keys of the
// same text (%{:a => 1, "a" => 2}), is dropped and counted (Unencodable). {:binary, data} is a binary broadcast, as Phoenix
// sends binary pushes. The other way, a JSON payload becomes what
// Jason.decode! makes of it (objects as maps with binary keys, strings as
// binaries, integers as integers of any size, other numbers as floats,
// null as nil), and a binary payload {:binary, data}.
//
// # Hostile input
//
// Nothing read from the channel is trusted, and nothing in it can stop the
// node (phoenix_pubsub_redis's own subscriber crashes on a term it cannot
// read). A message larger than MaxMessageBytes is dropped before it is
// read, and a compressed one whose inflated size exceeds it before or
// while inflating. The tuple is first skimmed, tag by tag and within
// bounds, without decoding it: a message whose dispatcher is not
// Phoenix.Channel.Server (Phoenix.Tracker's, which carries pids and
// references) is skipped and counted without decoding the rest. The
// remaining elements are decoded by package etf within the same size and a
// nesting depth of 64; atoms and strings are fresh Go strings, never
// interned, so no table grows with input. Malformed messages are dropped
// and counted (Dropped), and logged at debug level only.
//
// # Presence
//
// Presence does not cross between Elixir and phxgo nodes: Phoenix.Tracker
// replicates a CRDT between Erlang processes (pids and references), and
// Phoenix.Presence sends presence_diff to each node's own subscribers
// (local_broadcast), never through Redis. phxgo nodes keep their presence
// among themselves: presence_diff broadcasts travel in phxgo's own format
// (the embedded PubSub), never on the Phoenix channel, and a presence_diff
// read there is skipped. Clients of a channel thus see the presence of
// the users on their side of the cluster only.
type Phoenix struct {
	*PubSub
	channel string
	node    string
	max     int
	enc     etf.Encoder
	log     *slog.Logger
	ps      *redis.PubSub
	queue   chan []byte
	maxQB   int64        // QueueBytes
	queuedB atomic.Int64 // bytes queued or in the pipeline being sent
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool
	down    atomic.Bool
	stopPub chan struct{} // closed by Close: publish what is queued, then stop
	pubDone chan struct{} // closed when the publisher has stopped
	stats   struct {
		published, publishErrors, publishDropped       atomic.Uint64
		received, echoes, notForUs, skipped, unwatched atomic.Uint64
		dropped, unencodable, reconnects               atomic.Uint64
	}
}

// PhoenixChannel is the Redis channel phoenix_pubsub_redis uses for the
// PubSub named pubsubName: "phx:" and the adapter's module name,
// "phx:Elixir.MyApp.PubSub.Adapter" for MyApp.PubSub.
func PhoenixChannel(pubsubName string) string {
	if !strings.HasPrefix(pubsubName, "Elixir.") {
		pubsubName = "Elixir." + pubsubName
	}
	return "phx:" + pubsubName + ".Adapter"
}

// NewPhoenix subscribes to ps's Redis client on the Phoenix channel of
// o.PubSubName and returns ps speaking both formats. It waits (up to 1s)
// for Redis to confirm the subscription. Close stops it and ps.
func NewPhoenix(ps *PubSub, o PhoenixOptions) (*Phoenix, error) {
	if ps == nil {
		return nil, errors.New("phxredis: NewPhoenix with a nil PubSub")
	}
	name := strings.TrimPrefix(o.PubSubName, "Elixir.")
	if name == "" || strings.ContainsAny(name, " \t\r\n:") {
		return nil, fmt.Errorf("phxredis: PubSubName %q: want the Elixir module name, e.g. MyApp.PubSub", o.PubSubName)
	}
	if o.NodeName == "" {
		o.NodeName = ps.Node()
	}
	if !utf8.ValidString(o.NodeName) || utf8.RuneCountInString(o.NodeName) > 255 ||
		o.NodeName == "nil" || o.NodeName == "true" || o.NodeName == "false" {
		return nil, fmt.Errorf("phxredis: NodeName %q is no usable atom (UTF-8, at most 255 characters)", o.NodeName)
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = defaultMaxMessage
	}
	if o.QueueLength <= 0 {
		o.QueueLength = defaultQueueLength
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = defaultQueueBytes
	}
	if o.CompressionLevel < 0 || o.CompressionLevel > 9 {
		return nil, fmt.Errorf("phxredis: CompressionLevel %d: want 0 to 9", o.CompressionLevel)
	}
	if o.Logger == nil {
		o.Logger = ps.log
	}
	p := &Phoenix{
		PubSub: ps, channel: PhoenixChannel(name), node: o.NodeName,
		max: o.MaxMessageBytes, enc: etf.Encoder{Compress: o.CompressionLevel},
		queue: make(chan []byte, o.QueueLength), maxQB: int64(o.QueueBytes),
		stopPub: make(chan struct{}), pubDone: make(chan struct{}),
	}
	p.log = o.Logger.With("phoenix_channel", p.channel)
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.ps = ps.client.Subscribe(p.ctx, p.channel)
	// The first reply is the subscription's confirmation.
	ctx, cancel := context.WithTimeout(p.ctx, time.Second)
	msg, err := p.ps.Receive(ctx)
	cancel()
	if err != nil {
		p.log.Warn("phoenix channel: not subscribed yet, Redis unreachable", "err", err)
	} else {
		p.handle(msg)
	}
	p.wg.Add(2)
	go p.receiveLoop()
	go p.publishLoop()
	return p, nil
}

// Channel is the Redis channel of the Phoenix format.
func (p *Phoenix) Channel() string { return p.channel }

// NodeName is this node's node_name on the Phoenix channel.
func (p *Phoenix) NodeName() string { return p.node }

// Broadcast delivers b on this node and publishes it once on the Phoenix
// channel, where Elixir and phxgo nodes alike hear it. presence_diff
// broadcasts travel in phxgo's own format only (presence stays on its
// side of the cluster). A non-nil error means the other nodes will not
// get it: ErrUnavailable while Redis is unreachable, ErrQueueFull,
// ErrTooLarge, ErrClosed, or a payload with no Elixir term.
func (p *Phoenix) Broadcast(b *pubsub.Broadcast) error {
	if b.Event == "presence_diff" {
		return p.PubSub.Broadcast(b)
	}
	p.PubSub.LocalBroadcast(b)
	if p.closed.Load() {
		p.stats.publishDropped.Add(1)
		return ErrClosed
	}
	if !p.PubSub.health.up() { // the PubSub watches the same Redis
		p.stats.publishDropped.Add(1)
		return ErrUnavailable
	}
	msg, err := encodePhoenix(p.enc, p.node, b.Topic, b.Event, b.Payload, b.Binary)
	if err != nil {
		p.stats.publishDropped.Add(1)
		return err
	}
	if len(msg) > p.max {
		p.stats.publishDropped.Add(1)
		return ErrTooLarge
	}
	if p.queuedB.Add(int64(len(msg))) > p.maxQB {
		p.queuedB.Add(-int64(len(msg)))
		p.stats.publishDropped.Add(1)
		return ErrQueueFull
	}
	select {
	case p.queue <- msg:
		return nil
	default:
		p.queuedB.Add(-int64(len(msg)))
		p.stats.publishDropped.Add(1)
		return ErrQueueFull
	}
}

// Stats returns the counters of the Phoenix channel (the PubSub's own are
// in PubSub.Stats).
func (p *Phoenix) Stats() PhoenixStats {
	return PhoenixStats{
		Published: p.stats.published.Load(), PublishErrors: p.stats.publishErrors.Load(),
		PublishDropped: p.stats.publishDropped.Load(),
		Received:       p.stats.received.Load(), Echoes: p.stats.echoes.Load(),
		NotForUs: p.stats.notForUs.Load(), Skipped: p.stats.skipped.Load(), Unwatched: p.stats.unwatched.Load(),
		Dropped: p.stats.dropped.Load(), Unencodable: p.stats.unencodable.Load(),
		Reconnects: p.stats.reconnects.Load(),
	}
}

// phoenixFlushWait bounds how long Close spends publishing what is still
// queued.
const phoenixFlushWait = 2 * time.Second

// Close publishes what is queued (at most 2s), stops the Phoenix
// channel's goroutines and connection, then closes the PubSub. Broadcast
// then reports ErrClosed.
func (p *Phoenix) Close() error {
	if p.closed.CompareAndSwap(false, true) {
		close(p.stopPub)
		t := time.NewTimer(phoenixFlushWait + time.Second)
		select {
		case <-p.pubDone:
		case <-t.C: // stuck on a Redis that does not answer: cancel it
		}
		t.Stop()
		p.cancel()
		_ = p.ps.Close()
		p.wg.Wait()
	}
	return p.PubSub.Close()
}

// receive handles one message of the Phoenix channel. This node's echoes,
// :only messages for other nodes and broadcasts on topics without a local
// subscriber are turned away before their message is decoded.
func (p *Phoenix) receive(payload string) {
	if len(payload) > p.max { // before copying it
		p.stats.dropped.Add(1)
		p.log.Debug("phoenix message dropped", "err", errPhxTooLarge, "bytes", len(payload))
		return
	}
	m, err := decodePhoenix([]byte(payload), p.max, p.pre)
	switch {
	case err == nil:
	case errors.Is(err, errPhxEcho):
		p.stats.echoes.Add(1)
		return
	case errors.Is(err, errPhxNotForUs):
		p.stats.notForUs.Add(1)
		return
	case errors.Is(err, errPhxUnwatched):
		p.stats.unwatched.Add(1)
		return
	case errors.Is(err, errPhxForeign):
		p.stats.skipped.Add(1)
		return
	default:
		p.stats.dropped.Add(1)
		if errors.Is(err, errPhxUnencodable) {
			p.stats.unencodable.Add(1)
		}
		p.log.Debug("phoenix message dropped", "err", err)
		return
	}
	p.stats.received.Add(1)
	p.PubSub.LocalBroadcast(&pubsub.Broadcast{Topic: m.topic, Event: m.event, Payload: m.payload, Binary: m.binary})
}

// pre turns away, before decoding, what this node does not deliver.
func (p *Phoenix) pre(m *phoenixMsg) error {
	switch {
	case m.only && m.node != p.node:
		return errPhxNotForUs
	case !m.only && m.node == p.node:
		return errPhxEcho
	case p.PubSub.Subscribers(m.topic) == 0:
		return errPhxUnwatched
	}
	return nil
}

func (p *Phoenix) handle(msg any) {
	if m, ok := msg.(*redis.Message); ok {
		p.receive(m.Payload)
	}
}

// receiveLoop reads the Phoenix channel's connection as a link's does
// (PubSub.receiveLoop): a quiet connection is pinged, a ping left
// unanswered for healthEvery drops it (go-redis then reconnects and
// resubscribes), other failures are retried with backoff.
func (p *Phoenix) receiveLoop() {
	defer p.wg.Done()
	attempt, pinged, wasDown := 0, false, false
	for p.ctx.Err() == nil {
		var msg any
		var err error
		if pinged {
			ctx, cancel := context.WithTimeout(p.ctx, healthEvery)
			msg, err = p.ps.Receive(ctx)
			cancel()
		} else {
			msg, err = p.ps.ReceiveTimeout(p.ctx, healthEvery)
		}
		if err != nil {
			if p.ctx.Err() != nil {
				return
			}
			if !pinged && isTimeout(err) {
				_ = p.ps.Ping(p.ctx) // a write error makes go-redis reconnect
				pinged = true
				continue
			}
			if isReply(err) {
				continue // Redis answered a command with an error
			}
			pinged, wasDown = false, true
			select {
			case <-time.After(backoff(attempt)):
			case <-p.ctx.Done():
				return
			}
			attempt++
			continue
		}
		attempt, pinged = 0, false
		if wasDown {
			wasDown = false
			p.stats.reconnects.Add(1)
		}
		p.handle(msg)
	}
}

// publishLoop sends the queue in pipelines, one at a time, so this node's
// messages keep their order. After Close it sends what is left (at most
// phoenixFlushWait) and stops.
func (p *Phoenix) publishLoop() {
	defer p.wg.Done()
	defer close(p.pubDone)
	batch := make([][]byte, 0, 256)
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.stopPub:
			deadline := time.Now().Add(phoenixFlushWait)
			for time.Now().Before(deadline) && p.ctx.Err() == nil {
				select {
				case msg := <-p.queue:
					batch = p.send(append(batch[:0], msg))
				default:
					return
				}
			}
			return
		case msg := <-p.queue:
			batch = p.send(append(batch[:0], msg))
		}
	}
}

// send publishes batch, and what else is queued up to its capacity, as
// one pipeline; it returns batch for reuse.
func (p *Phoenix) send(batch [][]byte) [][]byte {
fill:
	for len(batch) < cap(batch) {
		select {
		case msg := <-p.queue:
			batch = append(batch, msg)
		default:
			break fill
		}
	}
	pipe := p.PubSub.client.Pipeline()
	for _, msg := range batch {
		pipe.Publish(p.ctx, p.channel, msg)
	}
	cmds, err := pipe.Exec(p.ctx)
	sent := 0
	for _, msg := range batch {
		sent += len(msg)
	}
	p.queuedB.Add(-int64(sent))
	failed := 0
	for _, c := range cmds {
		if c.Err() != nil {
			failed++
		}
	}
	if err != nil && len(cmds) == 0 {
		failed = len(batch)
	}
	p.stats.published.Add(uint64(len(batch) - failed))
	p.stats.publishErrors.Add(uint64(failed))
	switch {
	case failed > 0 && p.down.CompareAndSwap(false, true):
		p.log.Warn("phoenix channel: publishing failed, broadcasts to Elixir nodes are lost", "err", err)
	case failed == 0 && p.down.CompareAndSwap(true, false):
		p.log.Info("phoenix channel: publishing again")
	}
	return batch
}
