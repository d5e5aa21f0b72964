// Package presence tracks who is present on which topic of a phx.Server,
// as Phoenix.Presence does: it pushes presence_state to joiners and
// broadcasts presence_diff to members, so that phoenix.js's Presence class
// works unchanged. It is built on phx's exported API only (Channel.PushShared,
// Channel.State, Channel.OnTerminate, Server.PubSub, phx.NewBroadcast).
//
// Create one Presence per Server with New, track each user from the
// channel's AfterJoin (Track, then PushState), and let the channel's end
// untrack it: every tracked meta belongs to the channel instance that
// tracked it and leaves when that instance ends for any reason (leave,
// stop, crash, duplicate join, socket closed or lost).
//
// Diffs are batched per topic (Config.DiffWindow): the first change in a
// quiet topic goes out at once, later ones within the window are merged into
// one diff of net changes. A diff costs one frame write per member, so the
// window widens with the topic's local subscribers (50µs each, up to
// Config.MaxDiffWindow: 500ms at 10,000 members). A topic's presence_state
// is encoded once per change and shared by every channel that receives it
// (one frame per serializer version and join_ref, phx.SharedPush); a joiner
// whose own join waits in the window gets it when the window ends, together
// with the other joiners of that window, so that a room of 10,000 costs one
// encoding per window, not one per joiner; that window's diff, when it has
// joins only, skips them (their state already holds it). Presences are kept in a Store: the
// in-memory MemoryStore for one node, or a shared store for several nodes
// sharing a PubSub, each node heartbeating in it and expiring the presences
// of nodes that went silent. Package presencetest checks a Store
// implementation.
//
// # Lock ordering
//
// Presence's locks are taken in this order, and all of them before any
// lock of phx (whose own order is documented in package phx):
//
//  1. batch.mu, one per topic with changes waiting, a window open or
//     presence_states waiting. At most one is held at a time. It is held
//     while the topic's store entries are read or written (Store calls),
//     while its presence_diff is broadcast (PubSub.Broadcast, which takes
//     the PubSub and channel locks and the transports' locks below them),
//     while a presence_state is encoded, and while the states that waited
//     for the end of the window are pushed (Channel.PushShared, which
//     only queues a shared frame, taking Channel.mu and the transport's
//     lock); a state asked for outside a window is pushed after it is
//     released.
//  2. Presence.topicsMu (the topic → batch table) and Presence.ownersMu
//     (the channel → tracked presences table): leaves, each taken alone,
//     under batch.mu or under no lock, never one under the other; nothing
//     is called while either is held.
//  3. MemoryStore.mu, inside each MemoryStore method (under batch.mu or
//     under no lock): a leaf.
//
// Holding batch.mu across the broadcast is what keeps one topic's diffs
// in order and the store equal to what subscribers were told: the store is
// written and the diff broadcast as one step, and a presence_state is read
// between two such steps, never in the middle of one. It cannot deadlock,
// because no goroutine waits for a Presence lock while holding a phx lock:
// Presence's methods run on the app's goroutines (channel mailboxes, with
// no phx lock held: phx calls no handler under its locks), its OnTerminate
// hooks run in the channel's mailbox with no lock held, its timers and
// heartbeat loop run on goroutines of their own; and nothing a broadcast
// does under the PubSub lock calls back into Presence (Subscriber.Deliver
// never blocks and only writes or enqueues). A Store must likewise never
// call back into Presence; a slow Store or a clustered PubSub whose
// Broadcast blocks delays that one topic's presence operations, no other.
//
// Updaters (Update) run with no Presence lock held.
//
// # Goroutines
//
// Presence owns:
//
//   - The heartbeat loop, one goroutine from New to Close when
//     Config.HeartbeatInterval > 0: it heartbeats in the store, announces
//     this node's presences again if another node expired it, expires
//     silent nodes (broadcasting their leaves), and, when the PubSub
//     reports its health (pubsub.Health), pushes presence_state again to
//     the tracked channels after an outage (resync.go; the pushes run in
//     those channels' mailboxes).
//   - One window timer per topic batch (time.AfterFunc), armed while the
//     topic's window is open; each firing ends the window on a goroutine
//     of its own (flushing what waited). Close stops them and flushes.
//
// Everything else runs on the caller's goroutine, or, for the automatic
// untrack of an ended channel, on that channel's mailbox goroutine.
package presence
