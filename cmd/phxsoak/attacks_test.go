package main

import (
	"testing"
	"time"
)

// One test per hole of the hardening issue: each starts a fresh phxd with
// default flags (unless the hole is about a limit flag), runs the hole's
// attack for a few seconds, and asserts the bound — phxd's peak RSS from
// /proc, its open files, the statuses and close codes read on the wire, its
// log growth — and that a fresh client from another address was served
// during the attack. The 1 GB safety cap kills phxd (failing the test) when
// a hole is open.

func TestPingFloodRSS(t *testing.T) {
	rep := runAttack(t, "ping", 4*time.Second, 0)
	assertBounded(t, rep, rss256)
	if r := rep.Attacks[0].Result; r.BytesSent < 1<<20 {
		t.Errorf("the flood sent only %d bytes: it did not attack", r.BytesSent)
	}
}

func TestStatusFloodRSS(t *testing.T) {
	rep := runAttack(t, "status", 4*time.Second, 0)
	assertBounded(t, rep, rss256)
}

func TestSlowFloodRSS(t *testing.T) {
	rep := runAttack(t, "slow", 4*time.Second, 0)
	assertBounded(t, rep, rss256)
}

// TestTrickleCounted runs 400 trickling POSTs against -max-conns 200: every
// connection counts toward the limit, so phxd never holds many more open
// files than that.
func TestTrickleCounted(t *testing.T) {
	const maxConns = 200
	rep := runAttack(t, "trickle", 4*time.Second, 2*maxConns, "-max-conns", "200")
	if rep.Aborted != "" {
		t.Errorf("run aborted: %s", rep.Aborted)
	}
	// listener, epoll, pipes, the /metrics scrape: a few dozen besides
	if limit := maxConns + 64; rep.Peaks.FDs > limit {
		t.Errorf("phxd held %d open files under -max-conns %d (want at most %d): trickling POSTs are not counted",
			rep.Peaks.FDs, maxConns, limit)
	}
	if r := rep.Attacks[0].Result; r.PeakOpen < maxConns {
		t.Errorf("the attack held only %d connections at once: it did not attack", r.PeakOpen)
	}
}

func TestBigTopicsRSS(t *testing.T) {
	rep := runAttack(t, "topics", 4*time.Second, 0)
	assertBounded(t, rep, rss256)
}

func TestBroadcastRefused(t *testing.T) {
	rep := runAttack(t, "broadcast", 3*time.Second, 0)
	assertBounded(t, rep, rss256)
}

func TestOriginRefused(t *testing.T) {
	rep := runAttack(t, "origin", 3*time.Second, 0)
	assertBounded(t, rep, rss256)
}

func TestBrakeNotBypassed(t *testing.T) {
	rep := runAttack(t, "brake", 3*time.Second, 0)
	assertBounded(t, rep, rss256)
	if r := rep.Attacks[0].Result; r.HTTP["upgrade:101"] != 1 {
		t.Errorf("%d rejected connects upgraded in %v, want exactly 1 (the first)", r.HTTP["upgrade:101"], r.Elapsed)
	}
}

// TestLongPollSessionsCapped floods sessions under -max-conns 1000:
// sessions count toward it. (The cap is global, so no fresh client is
// expected to get in once the flood has filled it.)
func TestLongPollSessionsCapped(t *testing.T) {
	const maxConns = 1000
	rep := runAttack(t, "longpoll-sessions", 3*time.Second, 0, "-max-conns", "1000")
	if rep.Aborted != "" {
		t.Errorf("run aborted: %s", rep.Aborted)
	}
	if rep.Peaks.RSS >= rss256 {
		t.Errorf("peak RSS %s, want under %s", mb(rep.Peaks.RSS), mb(rss256))
	}
	if rep.Peaks.LongPollSessions > maxConns {
		t.Errorf("%d LongPoll sessions at once under -max-conns %d", rep.Peaks.LongPollSessions, maxConns)
	}
	if r := rep.Attacks[0].Result; r.Sent <= maxConns {
		t.Errorf("the flood sent only %d requests: it did not attack", r.Sent)
	}
}

// TestLongPollPostsRSS POSTs 8 MiB bodies, 40 at once, with default flags:
// bodies are capped like frames, so none is accepted and RSS stays bounded.
func TestLongPollPostsRSS(t *testing.T) {
	rep := runAttack(t, "longpoll-posts", 4*time.Second, 0)
	assertBounded(t, rep, rss256)
	if r := rep.Attacks[0].Result; r.BytesSent < 40*(8<<20) && r.HTTP["post:413"]+r.HTTP["post:400"] == 0 {
		t.Errorf("40 posters sent only %d bytes and were never refused: they did not attack", r.BytesSent)
	}
}

// TestBadFramesLogBounded: what a bad frame or an unmatched join logs is
// truncated and rate-limited, so phxd's log grows by at most a few lines
// per connection (connected, closed) and a fixed allowance, however many
// bad frames arrive.
func TestBadFramesLogBounded(t *testing.T) {
	rep := runAttack(t, "badframes", 3*time.Second, 0)
	assertBounded(t, rep, rss256)
	r := rep.Attacks[0].Result
	if r.Sent < 1000 {
		t.Errorf("the attack sent only %d bad frames: it did not attack", r.Sent)
	}
	if limit := 64<<10 + 600*r.Conns; rep.LogBytes > limit {
		t.Errorf("phxd logged %d bytes (%d lines) for %d bad frames on %d connections, want at most %d",
			rep.LogBytes, rep.LogLines, r.Sent, r.Conns, limit)
	}
	if rep.LongestLogLine > 2048 {
		t.Errorf("longest log line %d bytes, want at most 2048 (logged strings truncated)", rep.LongestLogLine)
	}
}

// TestSlowlorisPerAddress: 500 header-slowloris sockets from one address
// under -max-conns 500, with a per-address cap of 100: a fresh client from
// another address still gets in.
func TestSlowlorisPerAddress(t *testing.T) {
	args := append([]string{"-max-conns", "500"}, perAddrArgs(t, 100)...)
	rep := runAttack(t, "slowloris", 5*time.Second, 500, args...)
	assertBounded(t, rep, rss256)
	if a := rep.Attacks[0]; a.Fresh.Probes < 3 {
		t.Errorf("only %d fresh-client probes in 5 s", a.Fresh.Probes)
	}
}
