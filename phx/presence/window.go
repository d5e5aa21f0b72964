package presence

import "time"

// How long a topic's batching window runs.
//
// A presence_diff costs one frame write per member of the topic: in a room
// of 10,000 every window of a busy topic costs 10,000 writes (a system call
// each, with the loopback peer's receive processing: several µs each), so
// a fixed 50 ms window spends most of a core on diffs alone, and the
// slower the joins the more windows they span, the more diffs and the
// slower still. The window therefore widens with the room: it lasts
// memberWindow per member (the topic's subscribers on this node, which
// are what a diff is written to), never less than DiffWindow nor more
// than MaxDiffWindow. That bounds a busy topic's diff frames to about
// 1/memberWindow (20,000) per second up to MaxDiffWindow/memberWindow
// members (20,000 by default; one diff per MaxDiffWindow beyond), while a
// room of up to DiffWindow/memberWindow (1,000 by default) keeps
// DiffWindow. A quiet
// topic's first change still goes out at once: only changes that follow
// within the window wait for it. The wire is unchanged (a diff of the net
// changes of a longer window is still one presence_diff), and so is every
// rule of the batching (batch.go); what widens is how long changes and
// the presence_state of a window's joiners wait, at most MaxDiffWindow.
//
// Why not wider: a write to a loopback socket costs about 5.5 µs plus
// 0.13 µs per KiB here, so at 10,000 members a diff frame of ~70 KB
// spends under 40 % of its cost per write, and doubling memberWindow would
// save at most a fifth of the diff CPU while making joiners wait twice as
// long for their presence_state (1 s). A run timed from the first connect to
// the last join also looks cheaper with wider windows for a reason that is
// no saving: more of the last joiners' states go out after the last join.
const memberWindow = 50 * time.Microsecond

// defaultMaxDiffWindow is the default Config.MaxDiffWindow.
const defaultMaxDiffWindow = time.Second

// window is t's batching window (t.mu held), or the retry delay after a
// failed store write when batching is off.
func (p *Presence) window(t *batch) time.Duration {
	base := p.cfg.DiffWindow
	if base <= 0 {
		return 100 * time.Millisecond
	}
	if p.cfg.MaxDiffWindow <= base {
		return base
	}
	w := time.Duration(p.srv.PubSub().Subscribers(t.name)) * memberWindow
	return min(max(w, base), p.cfg.MaxDiffWindow)
}
