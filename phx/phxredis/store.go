package phxredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/phxgo/phxgo/phx/presence"
)

// StoreOptions configures a PresenceStore.
type StoreOptions struct {
	// Prefix starts every key of the store (default "phx"); nodes sharing
	// presences use the same prefix. It must not contain '{' or '}'.
	Prefix string
	// Logger receives warnings about malformed data found in Redis
	// (default slog.Default()).
	Logger *slog.Logger
}

// StoreStats are a PresenceStore's counters since it was created.
type StoreStats struct {
	// Calls counts the Store method calls, Errors those that failed.
	Calls, Errors uint64
	// Malformed counts values read from Redis that did not decode (an
	// entry, a revision or a heartbeat) and were dropped or replaced.
	Malformed uint64
}

// PresenceStore is a presence.Store kept in Redis, shared by every node
// whose PresenceStore uses the same Redis and Prefix: each node lists the
// presences of all of them, heartbeats in it, and expires the nodes that
// went silent.
//
// # Keys
//
// Every key starts with the hash tag "{<prefix>:presence}", so that in a
// Redis Cluster they all hash to one slot and the multi-key Lua scripts
// that make each operation atomic are legal. The presence state of the
// whole cluster therefore lives on one master. That is acceptable: it is
// small (one hash field per tracked meta) and written only when presences
// change; the heavy traffic, the broadcasts to subscribers, goes over
// Pub/Sub, which the PubSub of this package shards across the masters.
//
//	{p:presence}:t:<topic>  hash ref → entry (seq, node, key, owner, meta)
//	{p:presence}:n:<node>   hash ref → topic: the node's entries
//	{p:presence}:nodes      set of nodes that own entries
//	{p:presence}:beats      hash node → last heartbeat (µs since 1970)
//	{p:presence}:revs       hash topic → revision
//	{p:presence}:seq        counter numbering entries and revisions
//	{p:presence}:claim:<id> one ExpireNode's result, for a minute
//
// # Operations
//
// Apply, ExpireNode, Heartbeat and Nodes are Lua scripts (EVALSHA, falling
// back to EVAL when Redis lost its script cache). Apply upserts joins by
// ref, removes leaves by ref, keeps each node's index of its refs and
// bumps the topic's revision, in one step. ExpireNode is a claim: it
// removes the node's entries, index and heartbeat in one step and returns
// the entries, so when several nodes expire the same dead node at once
// each entry goes to exactly one of them. Its cost is linear in the node's
// entries (10,000 take a few tens of milliseconds) and Redis serves
// nothing else meanwhile. List is one HGETALL of the topic's hash: linear in the
// topic's entries, in one round trip and one reply; Presence caches it
// by revision, so it runs once per change of the topic, not once per
// joiner. Revision is one HGET.
//
// Heartbeat reports existed=false on a node's first beat, after another
// node expired it, and after Redis lost its data (a restart without
// persistence): presence.Presence then announces its presences again.
//
// Revisions come from the store-wide counter, seeded from Redis's clock in
// microseconds whenever it is missing (see luaCommon in store_lua.go), and
// never below what this client has seen: a topic's revision does not
// repeat an earlier value even after Redis lost its data.
//
// Metas are stored and returned byte for byte as written, as are keys,
// nodes and owners. Data in Redis is not trusted: an entry that does not
// decode (or whose meta is not a JSON object) is left out of List and
// counted in Stats().Malformed; it never reaches a client.
//
// go-redis retries a call after a network error or a read timeout, per
// the client's options. Every operation but ExpireNode is idempotent; an
// ExpireNode keeps its result for a minute under a key unique to the call,
// so that its retry gets the entries it claimed rather than nothing.
type PresenceStore struct {
	rdb  redis.UniversalClient
	log  *slog.Logger
	base string // "{<prefix>:presence}:"

	revs, beats, nodes, seq string

	maxSeen                atomic.Uint64 // largest revision seen: the counter's floor
	calls, errs, malformed atomic.Uint64
}

var _ presence.Store = (*PresenceStore)(nil)

// NewPresenceStore returns the store kept in Redis by client under
// o.Prefix (see PresenceStore for the keys). client is a *redis.Client for
// a single server (or a failover client), or a *redis.ClusterClient for
// Redis Cluster: every key carries the hash tag "{<prefix>:presence}", so
// the store's Lua scripts, which touch several keys, run on the one master
// that owns that slot. It needs Redis 5 or newer. It does not contact
// Redis; the scripts are loaded on first use (and again after Redis lost
// its script cache). Give every node its own Presence node id and the same
// prefix; give unrelated clusters sharing a Redis different prefixes.
func NewPresenceStore(client redis.UniversalClient, o StoreOptions) (*PresenceStore, error) {
	if client == nil {
		return nil, errors.New("phxredis: NewPresenceStore: nil client")
	}
	if o.Prefix == "" {
		o.Prefix = "phx"
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return nil, fmt.Errorf("phxredis: store prefix %q must not contain '{' or '}'", o.Prefix)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	base := "{" + o.Prefix + ":presence}:"
	return &PresenceStore{rdb: client, log: o.Logger, base: base,
		revs: base + "revs", beats: base + "beats", nodes: base + "nodes", seq: base + "seq"}, nil
}

// Stats returns the store's counters.
func (s *PresenceStore) Stats() StoreStats {
	return StoreStats{Calls: s.calls.Load(), Errors: s.errs.Load(), Malformed: s.malformed.Load()}
}

func (s *PresenceStore) topicKey(topic string) string { return s.base + "t:" + topic }
func (s *PresenceStore) nodeKey(node string) string   { return s.base + "n:" + node }

// floor is the counter's floor argument: above every revision seen.
func (s *PresenceStore) floor() string { return strconv.FormatUint(s.maxSeen.Load()+1, 10) }

// saw records a revision read or written.
func (s *PresenceStore) saw(rev uint64) {
	for {
		cur := s.maxSeen.Load()
		if rev <= cur || s.maxSeen.CompareAndSwap(cur, rev) {
			return
		}
	}
}

// done counts a call and its failure.
func (s *PresenceStore) done(err error) error {
	s.calls.Add(1)
	if err != nil {
		s.errs.Add(1)
	}
	return err
}

func (s *PresenceStore) bad(what string, args ...any) {
	s.malformed.Add(1)
	s.log.Warn("phxredis: malformed presence data in redis ignored", append([]any{"what", what}, args...)...)
}

// Apply implements presence.Store.
func (s *PresenceStore) Apply(ctx context.Context, topic string, joins, leaves []presence.Entry) error {
	if len(joins) == 0 && len(leaves) == 0 {
		return s.done(nil)
	}
	for _, e := range joins {
		if err := checkEntry(e); err != nil {
			return s.done(err)
		}
	}
	args := make([]any, 0, 4+len(leaves)+5*len(joins))
	args = append(args, s.base, topic, s.floor(), len(leaves))
	for _, e := range leaves {
		args = append(args, e.Ref)
	}
	for _, e := range joins {
		args = append(args, e.Ref, e.Node, e.Key, e.Owner, []byte(e.Meta))
	}
	res, err := applyScript.Run(ctx, s.rdb, []string{s.topicKey(topic), s.revs, s.nodes}, args...).Text()
	if err == nil {
		if rev, perr := strconv.ParseUint(res, 10, 64); perr == nil {
			s.saw(rev)
		}
	}
	return s.done(err)
}

// List implements presence.Store: one HGETALL of the topic.
func (s *PresenceStore) List(ctx context.Context, topic string) ([]presence.Entry, error) {
	m, err := s.rdb.HGetAll(ctx, s.topicKey(topic)).Result()
	if err != nil {
		return nil, s.done(err)
	}
	s.done(nil)
	if len(m) == 0 {
		return nil, nil
	}
	type seqEntry struct {
		seq uint64
		e   presence.Entry
	}
	list := make([]seqEntry, 0, len(m))
	for ref, v := range m {
		e, seq, ok := decodeEntry(topic, ref, v)
		if !ok {
			s.bad("entry", "topic", topic, "ref", ref)
			continue
		}
		list = append(list, seqEntry{seq, e})
	}
	slices.SortFunc(list, func(a, b seqEntry) int {
		if a.seq != b.seq {
			if a.seq < b.seq {
				return -1
			}
			return 1
		}
		return strings.Compare(a.e.Ref, b.e.Ref)
	})
	out := make([]presence.Entry, len(list))
	for i := range list {
		out[i] = list[i].e
	}
	return out, nil
}

// Revision implements presence.Store: one HGET. An unreadable stored
// revision is replaced by a fresh counter value on each call (the state is
// then never cached) until the topic's next change rewrites it.
func (s *PresenceStore) Revision(ctx context.Context, topic string) (uint64, error) {
	v, err := s.rdb.HGet(ctx, s.revs, topic).Result()
	if errors.Is(err, redis.Nil) {
		return 0, s.done(nil)
	}
	if err != nil {
		return 0, s.done(err)
	}
	rev, perr := strconv.ParseUint(v, 10, 64)
	if perr == nil && rev != 0 {
		s.saw(rev)
		return rev, s.done(nil)
	}
	s.bad("revision", "topic", topic)
	res, err := freshScript.Run(ctx, s.rdb, []string{s.seq}, s.base, "", s.floor()).Text()
	if err != nil {
		return 0, s.done(err)
	}
	if rev, err = strconv.ParseUint(res, 10, 64); err != nil {
		return 0, s.done(fmt.Errorf("phxredis: bad counter value %q", res))
	}
	s.saw(rev)
	return rev, s.done(nil)
}

// Heartbeat implements presence.Store.
func (s *PresenceStore) Heartbeat(ctx context.Context, node string, at time.Time) (bool, error) {
	n, err := heartbeatScript.Run(ctx, s.rdb, []string{s.beats}, node, at.UnixMicro()).Int64()
	return n == 1, s.done(err)
}

// Nodes implements presence.Store. A node whose heartbeat record does not
// decode is listed as never seen (others then expire it, and it
// re-announces).
func (s *PresenceStore) Nodes(ctx context.Context) ([]presence.Node, error) {
	res, err := nodesScript.Run(ctx, s.rdb, []string{s.beats, s.nodes}).Slice()
	if err != nil {
		return nil, s.done(err)
	}
	if len(res) != 2 {
		return nil, s.done(fmt.Errorf("phxredis: unexpected Nodes reply %v", res))
	}
	seen := make(map[string]time.Time)
	beats, _ := res[0].([]any)
	for i := 0; i+1 < len(beats); i += 2 {
		id, _ := beats[i].(string)
		us, _ := beats[i+1].(string)
		n, perr := strconv.ParseInt(us, 10, 64)
		if perr != nil {
			s.bad("heartbeat", "node", id)
			seen[id] = time.Time{}
			continue
		}
		seen[id] = time.UnixMicro(n)
	}
	owners, _ := res[1].([]any)
	for _, o := range owners {
		if id, ok := o.(string); ok {
			if _, dup := seen[id]; !dup {
				seen[id] = time.Time{}
			}
		}
	}
	out := make([]presence.Node, 0, len(seen))
	for id, at := range seen {
		out = append(out, presence.Node{ID: id, LastSeen: at})
	}
	return out, s.done(nil)
}

// ExpireNode implements presence.Store: a claim, in one script.
func (s *PresenceStore) ExpireNode(ctx context.Context, node string) ([]presence.Entry, error) {
	var token [16]byte
	_, _ = rand.Read(token[:])
	return s.expire(ctx, node, hex.EncodeToString(token[:]))
}

// expire is ExpireNode under claim token (the same token gets the same
// entries again for a minute).
func (s *PresenceStore) expire(ctx context.Context, node, token string) ([]presence.Entry, error) {
	res, err := expireScript.Run(ctx, s.rdb,
		[]string{s.nodeKey(node), s.beats, s.nodes, s.revs, s.base + "claim:" + token},
		s.base, node, s.floor()).Slice()
	if err != nil {
		return nil, s.done(err)
	}
	out := make([]presence.Entry, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		topic, _ := res[i].(string)
		ref, _ := res[i+1].(string)
		v, _ := res[i+2].(string)
		e, _, ok := decodeEntry(topic, ref, v)
		if !ok {
			s.bad("entry", "topic", topic, "ref", ref)
			continue
		}
		out = append(out, e)
	}
	return out, s.done(nil)
}

// checkEntry refuses a join that would read back as malformed.
func checkEntry(e presence.Entry) error {
	switch {
	case e.Ref == "" || e.Node == "" || e.Key == "":
		return fmt.Errorf("phxredis: entry with an empty ref, node or key (ref %q, node %q, key %q)", e.Ref, e.Node, e.Key)
	case !utf8.ValidString(e.Key):
		return fmt.Errorf("phxredis: entry %q: key is not valid UTF-8", e.Ref)
	case !jsonObject(string(e.Meta)):
		return fmt.Errorf("phxredis: entry %q: meta is not a JSON object", e.Ref)
	}
	return nil
}

// decodeEntry decodes a stored value (see store_lua.go for the layout).
// It accepts only well-formed entries: lengths that fit, a non-empty ref,
// node and key, a UTF-8 key, and a meta that is one JSON object.
func decodeEntry(topic, ref, v string) (e presence.Entry, seq uint64, ok bool) {
	rest, found := strings.CutPrefix(v, "P1 ")
	if !found || ref == "" {
		return e, 0, false
	}
	header, body, found := strings.Cut(rest, "\n")
	if !found {
		return e, 0, false
	}
	f := strings.Split(header, " ")
	if len(f) != 4 {
		return e, 0, false
	}
	var n [4]uint64
	for i, x := range f {
		var err error
		if n[i], err = strconv.ParseUint(x, 10, 64); err != nil {
			return e, 0, false
		}
	}
	nl, kl, ol := n[1], n[2], n[3]
	if nl == 0 || kl == 0 || nl > uint64(len(body)) || kl > uint64(len(body))-nl ||
		ol > uint64(len(body))-nl-kl {
		return e, 0, false
	}
	node, key := body[:nl], body[nl:nl+kl]
	owner, meta := body[nl+kl:nl+kl+ol], body[nl+kl+ol:]
	if !utf8.ValidString(key) || !jsonObject(meta) {
		return e, 0, false
	}
	return presence.Entry{Topic: topic, Key: key, Ref: ref, Meta: []byte(meta), Node: node, Owner: owner},
		n[0], true
}
