package presence

import (
	"context"
	"sync"
	"time"

	"github.com/phxgo/phxgo/phx"
)

// Entry is one tracked meta: one (topic, key, owner) triple as
// announced to clients.
type Entry struct {
	Topic string
	Key   string
	// Ref is the meta's phx_ref: unique, never reused.
	Ref string
	// Meta is the meta object exactly as announced, phx_ref (and
	// phx_ref_prev after an update) included. Leaves repeat it verbatim.
	Meta phx.RawJSON
	// Node is the id of the node whose Presence tracked the entry; other
	// nodes expire it when that node stops heartbeating.
	Node string
	// Owner identifies the channel instance that tracked it, unique across
	// nodes ("<node>#<n>": the node's Presence numbers the channel instances
	// it tracks for, in the order of their first Track).
	Owner string
}

// Node is a node known to a Store.
type Node struct {
	ID string
	// LastSeen is the node's latest heartbeat; zero when the store holds
	// entries of the node but no heartbeat since it was last expired.
	LastSeen time.Time
}

// Store holds the presences every node has announced. Presence
// writes to it only when it broadcasts the matching presence_diff, so what
// a store lists is always what subscribers have been told; List and
// presence_state add joins of this node that still wait for their diff,
// which it then always announces (and their leaves).
//
// A store shared by several nodes (Redis, …) lets each node list the
// others' presences; each node writes only its own entries, except through
// ExpireNode. Implementations must be safe for concurrent use; run
// presencetest.RunStore (package phx/presence/presencetest) against them.
type Store interface {
	// Apply adds joins and removes leaves of one topic atomically. Joins
	// are upserts by Ref; leaves are matched by Ref (Topic and Ref of the
	// given entries); a leave of an unknown ref is ignored.
	Apply(ctx context.Context, topic string, joins, leaves []Entry) error
	// List returns every entry of topic, the entries of one key in the
	// order they were first added.
	List(ctx context.Context, topic string) ([]Entry, error)
	// Revision returns 0 when topic has no entries, otherwise a number
	// that changes whenever its entries change and never repeats an
	// earlier non-zero value of the topic while the store lives. Presence
	// caches the encoded presence_state by it.
	Revision(ctx context.Context, topic string) (uint64, error)
	// Heartbeat records that node is alive at at. existed reports whether
	// the node was already known (false on the first beat and after the
	// node was expired: the node must then announce its presences again).
	Heartbeat(ctx context.Context, node string, at time.Time) (existed bool, err error)
	// Nodes lists the nodes that heartbeated since their last expiry or
	// that own entries.
	Nodes(ctx context.Context) ([]Node, error)
	// ExpireNode removes every entry of node, in every topic, and the
	// node's heartbeat record, and returns the removed entries. It is a
	// claim: when several nodes expire the same node at once, each entry
	// is returned to exactly one of them (which broadcasts its leave).
	ExpireNode(ctx context.Context, node string) ([]Entry, error)
}

// MemoryStore is the single-node Store.
type MemoryStore struct {
	mu     sync.Mutex
	rev    uint64 // last revision handed out, store-wide
	topics map[string]*memTopic
	nodes  map[string]*memNode
}

type memTopic struct {
	rev  uint64
	keys map[string][]Entry // key → entries in insertion order
	refs map[string]string  // ref → key
}

type memNode struct {
	lastSeen time.Time
	beat     bool              // heartbeated since the last expiry
	refs     map[string]string // ref → topic of the node's entries
}

// NewMemoryStore returns an empty in-memory Store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{topics: make(map[string]*memTopic),
		nodes: make(map[string]*memNode)}
}

// Apply implements Store.
func (s *MemoryStore) Apply(_ context.Context, topic string, joins, leaves []Entry) error {
	s.applyRev(topic, joins, leaves)
	return nil
}

// revApplier is a Store whose Apply also tells the topic's revision just
// before and just after it, atomically: Presence then updates its sorted
// copy of the topic's entries with the batch's changes when it held the
// revision before, instead of listing and sorting the whole topic again.
type revApplier interface {
	applyRev(topic string, joins, leaves []Entry) (before, after uint64)
}

func (s *MemoryStore) applyRev(topic string, joins, leaves []Entry) (before, after uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.topics[topic]; t != nil {
		before = t.rev
	}
	defer func() {
		if t := s.topics[topic]; t != nil {
			after = t.rev
		}
	}()
	changed := false
	for _, e := range leaves {
		if s.remove(topic, e.Ref) {
			changed = true
		}
	}
	for _, e := range joins {
		e.Topic = topic
		s.add(e)
		changed = true
	}
	if changed {
		if t := s.topics[topic]; t != nil {
			s.rev++
			t.rev = s.rev
		}
	}
	return before, after
}

// add upserts e (lock held): an entry whose ref is already stored under
// the same key is replaced in place, otherwise it is appended to its key.
func (s *MemoryStore) add(e Entry) {
	if t := s.topics[e.Topic]; t != nil {
		if key, ok := t.refs[e.Ref]; ok {
			if key == e.Key {
				list := t.keys[key]
				for i := range list {
					if list[i].Ref == e.Ref {
						list[i] = e
					}
				}
				s.nodeOf(e.Node).refs[e.Ref] = e.Topic
				return
			}
			s.remove(e.Topic, e.Ref)
		}
	}
	t := s.topics[e.Topic]
	if t == nil {
		t = &memTopic{keys: make(map[string][]Entry), refs: make(map[string]string)}
		s.topics[e.Topic] = t
	}
	t.refs[e.Ref] = e.Key
	t.keys[e.Key] = append(t.keys[e.Key], e)
	s.nodeOf(e.Node).refs[e.Ref] = e.Topic
}

func (s *MemoryStore) nodeOf(id string) *memNode {
	n := s.nodes[id]
	if n == nil {
		n = &memNode{refs: make(map[string]string)}
		s.nodes[id] = n
	}
	return n
}

// remove deletes ref from topic (lock held) and reports whether it was
// there. An emptied topic is dropped: its revision reads 0 (the empty
// state) and a later record gets a revision above every earlier one.
func (s *MemoryStore) remove(topic, ref string) bool {
	t := s.topics[topic]
	if t == nil {
		return false
	}
	key, ok := t.refs[ref]
	if !ok {
		return false
	}
	delete(t.refs, ref)
	list := t.keys[key]
	for i := range list {
		if list[i].Ref != ref {
			continue
		}
		if n := s.nodes[list[i].Node]; n != nil {
			delete(n.refs, ref)
			if len(n.refs) == 0 && !n.beat {
				delete(s.nodes, list[i].Node)
			}
		}
		list = append(list[:i:i], list[i+1:]...)
		break
	}
	if len(list) == 0 {
		delete(t.keys, key)
	} else {
		t.keys[key] = list
	}
	if len(t.refs) == 0 {
		delete(s.topics, topic)
	}
	return true
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, topic string) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.topics[topic]
	if t == nil {
		return nil, nil
	}
	out := make([]Entry, 0, len(t.refs))
	for _, list := range t.keys {
		out = append(out, list...)
	}
	return out, nil
}

// Revision implements Store. Revisions come from one store-wide
// counter, so a topic that empties and fills again never repeats one.
func (s *MemoryStore) Revision(_ context.Context, topic string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.topics[topic]; t != nil {
		return t.rev, nil
	}
	return 0, nil // empty: every empty topic has the same state, {}
}

// Heartbeat implements Store.
func (s *MemoryStore) Heartbeat(_ context.Context, node string, at time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodeOf(node)
	existed := n.beat
	n.beat = true
	if at.After(n.lastSeen) {
		n.lastSeen = at
	}
	return existed, nil
}

// Nodes implements Store.
func (s *MemoryStore) Nodes(context.Context) ([]Node, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Node, 0, len(s.nodes))
	for id, n := range s.nodes {
		pn := Node{ID: id}
		if n.beat {
			pn.LastSeen = n.lastSeen
		}
		out = append(out, pn)
	}
	return out, nil
}

// ExpireNode implements Store.
func (s *MemoryStore) ExpireNode(_ context.Context, node string) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[node]
	if n == nil {
		return nil, nil
	}
	n.beat = false // so that remove drops the record with its last entry
	var out []Entry
	touched := make(map[string]bool)
	for ref, topic := range n.refs {
		t := s.topics[topic]
		if t == nil {
			continue
		}
		key := t.refs[ref]
		for _, e := range t.keys[key] {
			if e.Ref == ref {
				out = append(out, e)
				break
			}
		}
		s.remove(topic, ref)
		touched[topic] = true
	}
	delete(s.nodes, node)
	for topic := range touched {
		if t := s.topics[topic]; t != nil {
			s.rev++
			t.rev = s.rev
		}
	}
	return out, nil
}
