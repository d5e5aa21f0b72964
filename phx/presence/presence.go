package presence

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// Presence events, as phoenix.js's Presence class expects them.
const (
	EventState = "presence_state"
	EventDiff  = "presence_diff"
)

// DefaultHeartbeatInterval is Config.HeartbeatInterval's default; the
// default NodeTimeout is five of them.
const DefaultHeartbeatInterval = 2 * time.Second

// Config configures a Presence. The zero value of every field is a
// sensible default.
type Config struct {
	// Store holds the announced presences (default: a MemoryStore, for a
	// single node).
	Store Store
	// Node names this node in the store (default: hostname-pid-random).
	// Two live processes must never share a node id.
	Node string
	// DiffWindow is the batching window of presence_diff broadcasts
	// (default 50ms; negative: one diff per change, as Phoenix does for
	// local changes). The first change in a quiet topic is broadcast at
	// once; further changes in that topic within the window are merged
	// into one diff sent when it ends, and so on while changes keep
	// coming: at most one diff per topic per window. A joiner whose own
	// join waits in the window gets its presence_state when the window
	// ends (see PushState), so it also bounds how long that state waits.
	DiffWindow time.Duration
	// MaxDiffWindow is how wide the window grows in a big room (default
	// 1s; at most DiffWindow: no widening). The window lasts 50µs per
	// local subscriber of the topic, within [DiffWindow, MaxDiffWindow]:
	// a presence_diff costs one frame write per member, so a busy room of
	// 10,000 sends one diff per 500ms instead of 20 per second (see
	// window.go). Ignored when DiffWindow is negative.
	MaxDiffWindow time.Duration
	// HeartbeatInterval is how often the node heartbeats in the store and
	// looks for dead nodes (default 2s; negative disables both).
	HeartbeatInterval time.Duration
	// NodeTimeout is how long without a heartbeat makes another node dead:
	// its presences are removed and their leaves broadcast (default five
	// heartbeat intervals: 10s). A node that dies without leaving (kill -9,
	// lost host) has its presences gone from every list within
	// NodeTimeout + HeartbeatInterval of its last heartbeat, plus one
	// store round trip and the clock skew between the nodes: 12s with the
	// defaults. It must exceed HeartbeatInterval by a margin that covers
	// a slow store call, or live nodes get expired (they then announce
	// their presences again, under new refs).
	NodeTimeout time.Duration
	// StoreTimeout bounds each store call (default 5s).
	StoreTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Store == nil {
		c.Store = NewMemoryStore()
	}
	if c.Node == "" {
		c.Node = defaultNodeID()
	}
	if c.DiffWindow == 0 {
		c.DiffWindow = 50 * time.Millisecond
	}
	if c.MaxDiffWindow == 0 {
		c.MaxDiffWindow = defaultMaxDiffWindow
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.NodeTimeout <= 0 {
		c.NodeTimeout = 5 * DefaultHeartbeatInterval
		if c.HeartbeatInterval > 0 {
			c.NodeTimeout = 5 * c.HeartbeatInterval
		}
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 5 * time.Second
	}
	return c
}

// Presence tracks who is present on which topic, pushes presence_state to
// joiners and broadcasts presence_diff, as Phoenix.Presence does, so that
// phoenix.js's Presence class works unchanged. Create one per phx.Server
// with New.
//
// Every tracked meta belongs to the channel instance that tracked it and
// leaves automatically when that instance ends for any reason (leave,
// stop, crash, duplicate join, socket closed or lost). Safe for concurrent
// use.
type Presence struct {
	srv   *phx.Server
	cfg   Config
	store Store
	log   *slog.Logger

	topicsMu sync.Mutex
	topics   map[string]*batch

	ownersMu sync.Mutex
	owners   map[*phx.Channel]*ownerRec
	ownerSeq atomic.Uint64 // numbers owner records: their ids are "<node>#<n>"

	diffs        atomic.Int64 // presence_diff broadcasts sent
	stateEncodes atomic.Int64 // presence_state payloads encoded
	beaten       atomic.Bool
	storeOut     outage // store failures, logged once per outage
	psUp         bool   // the PubSub was connected at the last beat (resync.go; loop goroutine only)
	psAgain      int    // beats until the second resync after an outage
	pubsubOut    outage // diff broadcast failures, logged once per outage
	closed       atomic.Bool
	closeOnce    sync.Once
	stop         chan struct{}
	loopDone     chan struct{}
}

// ownerRec is a channel instance with tracked presences.
type ownerRec struct {
	ch      *phx.Channel
	id      string
	dead    bool
	entries map[slotKey]Entry
}

type slotKey struct{ topic, key string }

// Updater computes a new meta from the current one (phx_ref and
// phx_ref_prev included; numbers as json.Number). It may modify and return
// its argument. It runs outside Presence's locks and may run again if the
// presence changed meanwhile.
type Updater func(meta map[string]any) any

// State is the presence_state payload (and each half of a
// presence_diff): key → {"metas": [meta, …]}.
type State map[string]Metas

// Metas are the metas of one key, each a JSON object with phx_ref.
type Metas struct {
	Metas []stdjson.RawMessage `json:"metas"`
}

// New creates the Presence of srv. It registers the node with the store
// (first heartbeat) and starts the heartbeat loop; Close stops it. It logs
// to srv.Logger().
//
// Presences the store still holds under this node's id belong to an
// earlier process with the same id that did not close (a crash, a restart
// within NodeTimeout): New removes them and broadcasts their leaves before
// its first heartbeat, so that a restarted node leaves no ghosts.
func New(srv *phx.Server, cfg Config) (*Presence, error) {
	cfg = cfg.withDefaults()
	p := &Presence{srv: srv, cfg: cfg, store: cfg.Store, log: srv.Logger(),
		storeOut: outage{what: "store"}, pubsubOut: outage{what: "pubsub"},
		topics: make(map[string]*batch), owners: make(map[*phx.Channel]*ownerRec),
		stop: make(chan struct{}), loopDone: make(chan struct{})}
	ctx, cancel := p.ctx()
	defer cancel()
	ghosts, err := p.store.ExpireNode(ctx, cfg.Node)
	if err != nil {
		return nil, err
	}
	if len(ghosts) > 0 {
		p.log.Warn("presence: removing presences left by an earlier process of this node",
			"node", cfg.Node, "presences", len(ghosts))
		p.announceLeaves(ghosts)
	}
	if _, err := p.store.Heartbeat(ctx, cfg.Node, time.Now()); err != nil {
		return nil, err // the leaves' window timers, if any, find nothing waiting and end
	}
	p.beaten.Store(true)
	if cfg.HeartbeatInterval > 0 {
		p.psUp = true // a PubSub that reports no health never had an outage
		if h, ok := srv.PubSub().(pubsub.Health); ok {
			p.psUp = h.Connected()
		}
		go p.loop()
	} else {
		close(p.loopDone)
	}
	return p, nil
}

// Node returns this node's id.
func (p *Presence) Node() string { return p.cfg.Node }

// Store returns the store.
func (p *Presence) Store() Store { return p.store }

func (p *Presence) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), p.cfg.StoreTimeout)
}

// Track tracks key on c's topic with meta (a JSON object value: map,
// struct, RawJSON; nil means {}), owned by the channel instance c: it
// leaves when c ends. The meta gets a fresh phx_ref; members get a
// presence_diff join. Call it from AfterJoin or later (a join that is
// still in flight gets ErrNotJoined, one that has ended
// phx.ErrChannelClosed), then PushState.
func (p *Presence) Track(c *phx.Channel, key string, meta any) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	switch c.State() {
	case phx.ChannelJoining:
		return ErrNotJoined
	case phx.ChannelClosed:
		return phx.ErrChannelClosed
	}
	ref := newRef()
	data, err := buildMeta(meta, ref, "")
	if err != nil {
		return err
	}
	o, fresh := p.ownerFor(c)
	if fresh {
		// Registered after the insert below: if c has ended meanwhile the
		// hook runs at once and removes what was just added.
		defer c.OnTerminate(func(error) { p.ownerDown(o) })
	}
	topic := c.Topic()
	e := Entry{Topic: topic, Key: key, Ref: ref, Meta: data, Node: p.cfg.Node, Owner: o.id}
	sl := slotKey{topic, key}
	return p.withTopic(topic, func(t *batch) error {
		p.ownersMu.Lock()
		if o.dead {
			p.ownersMu.Unlock()
			return phx.ErrChannelClosed
		}
		if _, dup := o.entries[sl]; dup {
			p.ownersMu.Unlock()
			return ErrAlreadyTracked
		}
		o.entries[sl] = e
		p.ownersMu.Unlock()
		t.join(e)
		p.changed(t)
		return nil
	})
}

// errRaced makes Update retry after a concurrent change.
var errRaced = errors.New("presence: changed concurrently")

// Update replaces the meta c tracks under key: meta is the new meta, or a
// Updater (or func(map[string]any) any) computing it from the
// current one. The new meta gets a new phx_ref and phx_ref_prev = the old
// ref; members get one presence_diff with the new meta in joins and the
// old one in leaves (as Phoenix).
func (p *Presence) Update(c *phx.Channel, key string, meta any) error {
	if p.closed.Load() {
		return ErrClosed
	}
	var upd Updater
	switch f := meta.(type) {
	case Updater:
		upd = f
	case func(map[string]any) any:
		upd = f
	}
	slot := slotKey{c.Topic(), key}
	for attempt := 0; ; attempt++ {
		cur, ok := p.lookup(c, slot)
		if !ok {
			return ErrNotTracked
		}
		m := meta
		if upd != nil {
			prev, err := decodeMeta(cur.Meta)
			if err != nil {
				return err
			}
			m = upd(prev)
		}
		err := p.replace(c, slot, cur, m)
		if errors.Is(err, errRaced) && attempt < 100 {
			continue
		}
		return err
	}
}

// replace swaps cur (still current) for a new entry with meta.
func (p *Presence) replace(c *phx.Channel, slot slotKey, cur Entry, meta any) error {
	ref := newRef()
	data, err := buildMeta(meta, ref, cur.Ref)
	if err != nil {
		return err
	}
	next := cur
	next.Ref, next.Meta = ref, data
	return p.withTopic(slot.topic, func(t *batch) error {
		p.ownersMu.Lock()
		o := p.owners[c]
		if o == nil || o.dead {
			p.ownersMu.Unlock()
			return ErrNotTracked
		}
		e, ok := o.entries[slot]
		if !ok {
			p.ownersMu.Unlock()
			return ErrNotTracked
		}
		if e.Ref != cur.Ref {
			p.ownersMu.Unlock()
			return errRaced
		}
		o.entries[slot] = next
		p.ownersMu.Unlock()
		t.leave(cur)
		t.join(next)
		p.changed(t)
		return nil
	})
}

// Untrack stops tracking key for c; members get a presence_diff leave.
// ErrNotTracked when there was nothing to untrack.
func (p *Presence) Untrack(c *phx.Channel, key string) error {
	slot := slotKey{c.Topic(), key}
	return p.withTopic(slot.topic, func(t *batch) error {
		p.ownersMu.Lock()
		o := p.owners[c]
		var e Entry
		ok := false
		if o != nil {
			if e, ok = o.entries[slot]; ok {
				delete(o.entries, slot)
			}
		}
		p.ownersMu.Unlock()
		if !ok {
			return ErrNotTracked
		}
		t.leave(e)
		p.changed(t)
		return nil
	})
}

// List returns the presences of topic in the presence_state shape: what
// was announced, plus the joins still waiting in the batching window, so a
// Track followed by List always finds the tracked meta (a presence whose
// leave waits is still listed until its diff goes out). Pushing the result
// to a subscriber of topic keeps phoenix.js consistent: what it shows that
// was still waiting is announced by the next diff, and the leave of every
// presence it shows is broadcast.
func (p *Presence) List(topic string) (State, error) {
	var entries []Entry
	err := p.withTopic(topic, func(t *batch) error {
		ctx, cancel := p.ctx()
		rev, err := p.store.Revision(ctx, topic)
		cancel()
		if err != nil {
			return err
		}
		entries, err = p.current(t, rev)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(State)
	for _, e := range entries {
		m := out[e.Key]
		m.Metas = append(m.Metas, stdjson.RawMessage(e.Meta))
		out[e.Key] = m
	}
	return out, nil
}

// PushState pushes presence_state to c: every announced presence of c's
// topic, c's own included. Call it after every successful join, rejoins
// included (typically from AfterJoin, right after Track): phoenix.js
// applies no presence_diff until it has the state of the current join.
//
// The state is encoded once per change of the topic and shared by every
// channel that asks for it until the next change. When c has a join of its
// own still waiting in the batching window, its state waits for the end of
// the window (DiffWindow, widened in a big room up to MaxDiffWindow): the
// flush that announces the join pushes the new state, encoded once, to every
// channel that waited, so c finds itself in it, as in Phoenix (that flush's
// diff, when it has joins only, skips c on this node: the state holds
// them). The state is
// consistent with the diffs: c subscribed before the state was read, so
// every change after it reaches c in a diff, and the leave of every presence
// in the state is broadcast to c. Diffs that reach c before the state are
// held by phoenix.js and applied after it (the joins they repeat are
// idempotent by phx_ref). An error is returned when the state could not be
// read or pushed at once; a state that waits is pushed later, or not at all
// when c has ended by then.
func (p *Presence) PushState(c *phx.Channel) error {
	o := p.ownerOf(c)
	var sp *phx.SharedPush
	err := p.withTopic(c.Topic(), func(t *batch) error {
		if o != nil && p.ownsWaiting(t, o) {
			t.stateWait = append(t.stateWait, c)
			return nil
		}
		var err error
		sp, err = p.sharedState(t)
		return err
	})
	if err != nil || sp == nil {
		return err
	}
	return c.PushShared(sp)
}

// ownerOf returns the record of what c tracked, nil when it tracks nothing.
func (p *Presence) ownerOf(c *phx.Channel) *ownerRec {
	p.ownersMu.Lock()
	defer p.ownersMu.Unlock()
	return p.owners[c]
}

// ownerFor returns c's owner record, creating it (fresh) if needed.
func (p *Presence) ownerFor(c *phx.Channel) (o *ownerRec, fresh bool) {
	p.ownersMu.Lock()
	defer p.ownersMu.Unlock()
	if o = p.owners[c]; o != nil {
		return o, false
	}
	o = &ownerRec{ch: c, id: p.cfg.Node + "#" + strconv.FormatUint(p.ownerSeq.Add(1), 10),
		entries: make(map[slotKey]Entry)}
	p.owners[c] = o
	return o, true
}

func (p *Presence) lookup(c *phx.Channel, slot slotKey) (Entry, bool) {
	p.ownersMu.Lock()
	defer p.ownersMu.Unlock()
	if o := p.owners[c]; o != nil && !o.dead {
		e, ok := o.entries[slot]
		return e, ok
	}
	return Entry{}, false
}

// ownerDown removes everything o tracked: its channel instance ended.
func (p *Presence) ownerDown(o *ownerRec) {
	p.ownersMu.Lock()
	o.dead = true
	if p.owners[o.ch] == o {
		delete(p.owners, o.ch)
	}
	topics := make(map[string]bool)
	for slot := range o.entries {
		topics[slot.topic] = true
	}
	p.ownersMu.Unlock()
	for topic := range topics {
		_ = p.withTopic(topic, func(t *batch) error {
			p.ownersMu.Lock()
			var gone []Entry
			for slot, e := range o.entries {
				if slot.topic == topic {
					gone = append(gone, e)
					delete(o.entries, slot)
				}
			}
			p.ownersMu.Unlock()
			for _, e := range gone {
				t.leave(e)
			}
			if len(gone) > 0 {
				p.changed(t)
			}
			return nil
		})
	}
}

// Close flushes pending diffs, stops the heartbeat loop and removes this
// node's remaining presences from the store, broadcasting their leaves.
// Call it after the server has shut down (its channels then have left
// already). Track and Update fail afterwards.
func (p *Presence) Close() error {
	var err error
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		close(p.stop)
		<-p.loopDone
		p.topicsMu.Lock()
		topics := make([]*batch, 0, len(p.topics))
		for _, t := range p.topics {
			topics = append(topics, t)
		}
		p.topicsMu.Unlock()
		for _, t := range topics {
			t.mu.Lock()
			if t.timer != nil {
				t.timer.Stop()
			}
			t.open = false
			p.flush(t)
			p.removeTopic(t)
			t.mu.Unlock()
		}
		ctx, cancel := p.ctx()
		defer cancel()
		var left []Entry
		if left, err = p.store.ExpireNode(ctx, p.cfg.Node); err == nil {
			p.announceLeaves(left)
		}
	})
	return err
}
