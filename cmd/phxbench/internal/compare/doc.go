// Package compare is `phxbench compare`: it drives two Phoenix Channels
// servers with the same scenario, one step at a time, records every frame
// each side sends and receives, normalises what may legitimately differ
// (refs, timestamps, presence phx_refs, ordering the protocol leaves open)
// with data-driven rules, and prints the remaining differences as a
// unified diff.
//
// The pieces: rules.go (the rule file format and its default, rules.json),
// record.go (transcripts and their rendering), normalise.go (applying the
// rules), client.go and longpoll.go (the recording WebSocket and LongPoll
// clients), driver.go (the deterministic step-by-step scheduler), diff.go
// (the line differ) and compare.go (the command).
package compare
