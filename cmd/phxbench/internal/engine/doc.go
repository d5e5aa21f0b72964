// Package engine runs a compiled scenario: the epoll event loop and its
// timer heap, the virtual clients (WebSocket on the loop, LongPoll on
// goroutines feeding it), per-process statistics, the coordinator that
// spreads clients over -procs worker processes and relays barriers, and the
// merged Result with its expectations checked. It depends on scenario (the
// program), wire (frames, refs, stamps), hist (latencies), procstat (server
// samples), baseline (the result's bare-write figures) and sys (limits).
package engine
