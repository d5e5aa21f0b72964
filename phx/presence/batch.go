package presence

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/phxgo/phxgo/phx"
)

// batch batches one topic's changes into presence_diff broadcasts.
//
// Batching rule (DiffWindow W): a change in a quiet topic is applied to the
// store and broadcast at once, and opens a window of W. Changes made while
// the window is open wait; when it ends, everything that waited goes out
// as ONE diff of net changes and a new window opens; a window that ends
// with nothing waiting closes the topic's batch (the topic is quiet
// again). Net changes: a ref that joins and leaves within one batch, and
// that no List or presence_state has shown, was never seen by anyone and
// appears in neither list; one that was shown appears in both (phoenix.js
// applies a diff's joins before its leaves, so every view ends without
// it). A leave repeats the meta exactly as its join announced it.
//
// What List shows: the store (what was announced), presences whose leave
// waits included (their leave will come), plus every waiting join, which
// it marks shown, so that a Track followed by List always finds the
// tracked meta. This is consistent with the diffs that follow for a
// subscriber of the topic: a waiting join it shows is announced by the
// next diff (idempotent by phx_ref), and the leave of every presence it
// shows is broadcast later. The store only ever holds announced presences
// (it is written when the diff is broadcast, under t.mu). Diffs of one
// topic go out in order.
//
// What presence_state shows: the store, encoded once per change and shared
// by every channel that asks until the next change. A channel that has a
// join of its own waiting in the window would not find itself in that
// state, so its presence_state waits for the end of the window: the flush
// that announces its join encodes the new state once and pushes it to
// every channel that waited, so that all the joiners of one window share
// one encoding (and, through phx.SharedPush, one frame per join_ref) and
// each finds itself in its state, as in Phoenix (which tracks, then
// lists). The diff that announced the joins skips those joiners on this
// node when it has joins only (their state, read after the store applied
// it, includes them); a diff with leaves reaches them too, before their
// state: phoenix.js holds diffs until the state of the current join
// arrives and then applies them on top of it, so a join it holds from an
// earlier diff needs the leave that follows it, and the joins they repeat
// are idempotent by phx_ref.
//
// Lock order: see the package documentation (doc.go).
type batch struct {
	name string

	mu      sync.Mutex
	removed bool // dropped from Presence.topics: look it up again
	open    bool // a window is running; its timer flushes what waits
	timer   *time.Timer

	joins  []pendingJoin  // waiting joins in order; Ref "" = cancelled
	joinAt map[string]int // ref → index in joins, for joins still live
	nJoins int            // live entries in joins
	leaves []Entry        // waiting leaves (of announced or shown refs)

	// shared is the presence_state of the store at sharedRev (when
	// sharedOK), encoded once and sent to every channel that asks for it
	// until the next change: released when a flush makes it stale.
	shared    *phx.SharedPush
	sharedRev uint64
	sharedOK  bool

	// stateWait are the channels whose presence_state waits for the end
	// of the window: each had a join of its own waiting when it asked.
	stateWait []*phx.Channel

	stored    []Entry // the store's entries at storedRev, sorted by key
	storedRev uint64
}

// pendingJoin is a join waiting for the end of the window.
type pendingJoin struct {
	Entry
	shown bool // a List or presence_state included it: its leave must be told
	left  bool // shown, then left within the batch: in the diff's joins and leaves, never stored
}

func (t *batch) join(e Entry) {
	if t.joinAt == nil {
		t.joinAt = make(map[string]int)
	}
	t.joinAt[e.Ref] = len(t.joins)
	t.joins = append(t.joins, pendingJoin{Entry: e})
	t.nJoins++
}

// leave records that e left. A join still waiting that nobody was shown is
// simply cancelled; one that was shown stays in the diff's joins and its
// leave is added, so that the views that hold it drop it.
func (t *batch) leave(e Entry) {
	if i, ok := t.joinAt[e.Ref]; ok {
		delete(t.joinAt, e.Ref)
		t.nJoins--
		if !t.joins[i].shown {
			t.joins[i] = pendingJoin{}
			return
		}
		t.joins[i].left = true
	}
	t.leaves = append(t.leaves, e)
}

func (t *batch) pending() bool { return t.nJoins > 0 || len(t.leaves) > 0 }

func (t *batch) reset() {
	clear(t.joins)
	t.joins, t.leaves, t.nJoins = t.joins[:0], nil, 0
	clear(t.joinAt)
}

// current returns the presences of t that List shows (t.mu held), sorted
// by key: the stored ones (cached by store revision rev, which the caller
// read), merged with every waiting join, which it marks shown. A stored
// presence whose leave waits is still shown: its leave will come.
func (p *Presence) current(t *batch, rev uint64) ([]Entry, error) {
	if err := p.loadStored(t, rev); err != nil {
		return nil, err
	}
	var joins []Entry
	for i := range t.joins {
		if j := &t.joins[i]; j.Ref != "" && !j.left {
			j.shown = true
			joins = append(joins, j.Entry)
		}
	}
	if len(joins) == 0 {
		return t.stored, nil
	}
	joins = sortedByKey(joins)
	out := make([]Entry, 0, len(t.stored)+len(joins))
	i := 0
	for _, e := range t.stored { // merge: a key's stored metas before its waiting ones
		for ; i < len(joins) && joins[i].Key < e.Key; i++ {
			out = append(out, joins[i])
		}
		out = append(out, e)
	}
	return append(out, joins[i:]...), nil
}

// sharedState returns the presence_state of the store for t (t.mu held),
// encoding it only when the store changed since the last one.
func (p *Presence) sharedState(t *batch) (*phx.SharedPush, error) {
	ctx, cancel := p.ctx()
	rev, err := p.store.Revision(ctx, t.name)
	cancel()
	if err != nil {
		return nil, err
	}
	if t.sharedOK && t.sharedRev == rev {
		return t.shared, nil
	}
	if err := p.loadStored(t, rev); err != nil {
		return nil, err
	}
	size := 2
	for _, e := range t.stored {
		size += len(e.Key) + len(e.Meta) + 16
	}
	sp, err := phx.NewSharedPush(EventState, appendGrouped(make([]byte, 0, size), t.stored))
	if err != nil {
		return nil, err
	}
	p.stateEncodes.Add(1)
	t.shared, t.sharedRev, t.sharedOK = sp, rev, true
	return sp, nil
}

// ownsWaiting reports whether o has a join waiting in t (t.mu held).
func (p *Presence) ownsWaiting(t *batch, o *ownerRec) bool {
	p.ownersMu.Lock()
	defer p.ownersMu.Unlock()
	for slot, e := range o.entries {
		if slot.topic == t.name {
			if _, ok := t.joinAt[e.Ref]; ok {
				return true
			}
		}
	}
	return false
}

// serveWaiters pushes the state to the channels that waited for the end of
// the window (t.mu held, right after the flush that announced their
// joins, so that they get it in order with the diffs). Each push only
// queues a shared frame. When the state cannot be read they keep waiting,
// for the next window (false).
func (p *Presence) serveWaiters(t *batch) bool {
	if len(t.stateWait) == 0 {
		return true
	}
	sp, err := p.sharedState(t)
	if err != nil {
		p.failed(&p.storeOut, "store read failed; presence_state held back", err, "topic", t.name)
		return false
	}
	p.ok(&p.storeOut)
	for i, c := range t.stateWait {
		_ = c.PushShared(sp) // a channel that has ended meanwhile is skipped
		t.stateWait[i] = nil
	}
	t.stateWait = t.stateWait[:0]
	return true
}

// idle reports whether t has nothing to do: no window, no change and no
// presence_state waiting.
func (t *batch) idle() bool { return !t.open && !t.pending() && len(t.stateWait) == 0 }

// loadStored caches the store's entries of t at revision rev, sorted by
// key (t.mu held). Callers treat t.stored as read-only.
func (p *Presence) loadStored(t *batch, rev uint64) error {
	if rev == 0 {
		t.stored, t.storedRev = nil, 0
		return nil
	}
	if t.stored != nil && t.storedRev == rev {
		return nil
	}
	ctx, cancel := p.ctx()
	defer cancel()
	entries, err := p.store.List(ctx, t.name)
	if err != nil {
		return err
	}
	t.stored, t.storedRev = sortedByKey(entries), rev
	return nil
}

// storedApplied brings t.stored up to date after the store applied joins
// and t.leaves, moving the topic from revision before to after (t.mu
// held): when t.stored held revision before, the leaves are dropped from
// it and the joins merged in by key (a key's metas stay in the order they
// were added, as List gives them); otherwise, or when a join replaced a
// stored ref in place, the next read lists the topic again.
func (p *Presence) storedApplied(t *batch, before, after uint64, joins []Entry) {
	known := t.storedRev == before && (before == 0 || t.stored != nil)
	if !known || after == 0 {
		t.stored, t.storedRev = nil, 0
		return
	}
	// ref → true: leaves (dropped), false: joins (which must be new refs;
	// an upsert of a stored one, or a ref that both joins and leaves,
	// makes the next read list the topic again)
	refs := make(map[string]bool, len(t.leaves)+len(joins))
	for _, e := range t.leaves {
		refs[e.Ref] = true
	}
	for _, e := range joins {
		if _, dup := refs[e.Ref]; dup {
			t.stored, t.storedRev = nil, 0
			return
		}
		refs[e.Ref] = false
	}
	joins = sortedByKey(slices.Clone(joins))
	out := make([]Entry, 0, len(t.stored)+len(joins))
	i := 0
	for _, e := range t.stored {
		leaving, known := refs[e.Ref]
		if known && !leaving {
			t.stored, t.storedRev = nil, 0
			return
		}
		if leaving {
			continue
		}
		for ; i < len(joins) && joins[i].Key < e.Key; i++ {
			out = append(out, joins[i])
		}
		out = append(out, e)
	}
	t.stored, t.storedRev = append(out, joins[i:]...), after
}

// withTopic runs f with the topic's batch locked, creating it if needed,
// and drops the batch afterwards when it is idle.
func (p *Presence) withTopic(name string, f func(t *batch) error) error {
	for {
		p.topicsMu.Lock()
		t := p.topics[name]
		if t == nil {
			t = &batch{name: name}
			p.topics[name] = t
		}
		p.topicsMu.Unlock()
		t.mu.Lock()
		if t.removed {
			t.mu.Unlock()
			continue
		}
		err := f(t)
		if t.idle() {
			p.removeTopic(t)
		}
		t.mu.Unlock()
		return err
	}
}

// removeTopic drops an idle batch (t.mu held).
func (p *Presence) removeTopic(t *batch) {
	t.removed = true
	p.topicsMu.Lock()
	if p.topics[t.name] == t {
		delete(p.topics, t.name)
	}
	p.topicsMu.Unlock()
}

// changed is called after a change was recorded in t (t.mu held): it
// flushes at once in a quiet topic and opens a window, or leaves the
// change for the running window.
func (p *Presence) changed(t *batch) {
	if t.open {
		return
	}
	ok := p.flush(t)
	if p.closed.Load() {
		return // shutting down: no timers, every change goes out at once
	}
	if p.cfg.DiffWindow > 0 || !ok {
		t.open = true
		if t.timer == nil {
			t.timer = time.AfterFunc(p.window(t), func() { p.tick(t) })
		} else {
			t.timer.Reset(p.window(t))
		}
	}
}

// tick ends a window: what waited goes out and a new window opens, or the
// topic is quiet again.
func (p *Presence) tick(t *batch) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.removed || !t.open {
		return
	}
	if t.pending() || len(t.stateWait) > 0 {
		ok := p.flush(t)
		if !p.closed.Load() && (!ok || p.cfg.DiffWindow > 0) {
			t.timer.Reset(p.window(t))
			return
		}
	}
	t.open = false
	if t.idle() {
		p.removeTopic(t)
	}
}

// flush writes t's waiting changes to the store and broadcasts them as one
// presence_diff, then pushes presence_state to the channels waiting for it
// (t.mu held). On a store error nothing is broadcast and the changes (or
// the states) keep waiting (false).
func (p *Presence) flush(t *batch) bool {
	if !t.pending() {
		t.reset()
		return p.serveWaiters(t)
	}
	joins := make([]Entry, 0, len(t.joins))
	stored := make([]Entry, 0, t.nJoins)
	for _, j := range t.joins {
		if j.Ref != "" {
			joins = append(joins, j.Entry)
			if !j.left {
				stored = append(stored, j.Entry)
			}
		}
	}
	var err error
	if ra, ok := p.store.(revApplier); ok {
		before, after := ra.applyRev(t.name, stored, t.leaves)
		p.storedApplied(t, before, after, stored)
	} else {
		ctx, cancel := p.ctx()
		err = p.store.Apply(ctx, t.name, stored, t.leaves)
		cancel()
	}
	if err != nil {
		p.failed(&p.storeOut, "store write failed; diff held back", err, "topic", t.name)
		return false
	}
	p.ok(&p.storeOut)
	payload := make([]byte, 0, 32+64*(len(joins)+len(t.leaves)))
	payload = append(payload, `{"joins":`...)
	payload = appendGrouped(payload, sortedByKey(joins))
	payload = append(payload, `,"leaves":`...)
	payload = appendGrouped(payload, sortedByKey(t.leaves))
	payload = append(payload, '}')
	joinsOnly := len(t.leaves) == 0
	t.reset()
	t.shared, t.sharedOK = nil, false // stale: released
	p.diffs.Add(1)
	b, err := phx.NewBroadcast(t.name, EventDiff, phx.RawJSON(payload))
	if err == nil {
		// The channels waiting for their presence_state get it right
		// after this diff, read from the store that already holds the
		// diff's joins: the diff would only repeat them (in a wide window
		// of a busy room, a big diff to many joiners). Not when it has
		// leaves: a waiting client may hold an earlier diff (phoenix.js
		// keeps diffs until the state, then applies them on top of it),
		// whose join of a ref that leaves in this diff would come back
		// without this diff's leave.
		if joinsOnly {
			phx.SkipChannels(b, t.stateWait)
		}
		err = p.srv.PubSub().Broadcast(b)
	}
	if err != nil {
		p.failed(&p.pubsubOut, "diff broadcast failed", err, "topic", t.name)
	} else {
		p.ok(&p.pubsubOut)
	}
	return p.serveWaiters(t)
}

// announceLeaves broadcasts the leaves of entries removed from the store
// behind Presence's back (an expired node), grouped by topic.
func (p *Presence) announceLeaves(entries []Entry) {
	byTopic := make(map[string][]Entry)
	for _, e := range entries {
		byTopic[e.Topic] = append(byTopic[e.Topic], e)
	}
	for topic, list := range byTopic {
		_ = p.withTopic(topic, func(t *batch) error {
			for _, e := range list {
				t.leave(e)
			}
			p.changed(t)
			return nil
		})
	}
}

// sortedByKey orders entries by key, keeping the order of each key's
// metas; it may sort in place.
func sortedByKey(entries []Entry) []Entry {
	slices.SortStableFunc(entries, func(a, b Entry) int { return cmp.Compare(a.Key, b.Key) })
	return entries
}

// appendGrouped appends the {key: {"metas": [meta, …]}} object of entries
// sorted by key.
func appendGrouped(b []byte, entries []Entry) []byte {
	b = append(b, '{')
	for i := 0; i < len(entries); {
		key := entries[i].Key
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, key)
		b = append(b, `:{"metas":[`...)
		j := i
		for ; j < len(entries) && entries[j].Key == key; j++ {
			if j > i {
				b = append(b, ',')
			}
			b = append(b, entries[j].Meta...)
		}
		b = append(b, "]}"...)
		i = j
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string, escaped as Jason does by
// default (no HTML escaping).
func appendJSONString(b []byte, s string) []byte {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			simple = false
			break
		}
	}
	if simple {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, err := json.Marshal(s)
	if err != nil { // unreachable for a string
		return append(b, `""`...)
	}
	return append(b, q...)
}
