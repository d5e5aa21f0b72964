package suite

import (
	"fmt"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
)

// The figures issue 13 adds: each path's syscall floor measured in the
// same run (phxbench -floor, and -baseline's coalesced writes), presence
// at scale, a slow handler beside echo, GC during the echo run, and how
// every latency figure was taken.

// addFloorFigures adds the floors and the ratios to them, and the figures
// of the presence and slow runs.
func addFloorFigures(f map[string]float64, r *engine.Result) {
	if fl := r.Floor; fl != nil {
		if e := fl.Echo; e != nil && e.CPUPerEchoUS > 0 {
			f["echo_floor_us"] = e.CPUPerEchoUS
			f["echo_floor_p50_us"], f["echo_floor_p99_us"] = e.P50US, e.P99US
			if v := f["cpu_per_echo_us"]; v > 0 {
				f["echo_vs_floor"] = v / e.CPUPerEchoUS
			}
			if v := f["echo_p99_us"]; v > 0 && e.P99US > 0 {
				f["echo_p99_vs_floor"] = v / e.P99US
			}
			// phxd measured by the floor's client: both round trips
			// taken the same way.
			if sv := fl.Server; sv != nil && sv.Echoes > 0 {
				f["echo_fc_p50_us"], f["echo_fc_p99_us"] = sv.P50US, sv.P99US
				f["echo_fc_cpu_us"] = sv.CPUPerEchoUS
				if e.P99US > 0 {
					f["echo_fc_p99_vs_floor"] = sv.P99US / e.P99US
				}
			}
		}
		if c := fl.Connect; c != nil && c.CPUPerConnectUS > 0 {
			f["connect_floor_us"] = c.CPUPerConnectUS
			if v := f["cpu_per_connect_join_us"]; v > 0 {
				f["connect_vs_floor"] = v / c.CPUPerConnectUS
			}
		}
	}
	if b := r.Baseline; b != nil && b.CPUPerJoinUS > 0 {
		// The bytes floor of a presence run (phxbench -baseline with
		// connect): its CPU per join against phxd's over the whole run,
		// which is what the floor's bytes and write count cover.
		f["presence_floor_us"] = b.CPUPerJoinUS
		f["presence_floor_calls"] = float64(b.ServerCalls)
		if s := r.Server; s != nil && r.Counters.Joined > 0 {
			f["presence_vs_floor"] = s.CPUS * 1e6 / float64(r.Counters.Joined) / b.CPUPerJoinUS
		}
	}
	if b := r.Baseline; b != nil && b.CPUPerFrameUS > 0 {
		f["bare_writev_coalesced_us"] = b.CPUPerFrameUS
		f["floor_frames_per_call"] = b.FramesPerCall
		if v := f["cpu_per_delivery_us"]; v > 0 {
			f["vs_coalesced"] = v / b.CPUPerFrameUS
		}
	}
	c := &r.Counters
	f["frames_in"], f["bytes_in"] = float64(c.FramesIn), float64(c.BytesIn)
	if s := r.Server; s != nil {
		f["rss_peak_b"] = float64(s.RSSPeak)
		if c.Joined > 0 {
			f["server_cpu_per_joined_us"] = s.CPUS * 1e6 / float64(c.Joined)
		}
	}
	if s, ok := r.Latency["push:block"]; ok {
		f["block_p50_us"] = s.P50
	}
}

// Targets of issue 13's presence row.
const (
	tgtPresenceRate = 3000
	tgtPresenceCPU  = 150 // µs per join
	tgtPresenceRSS  = 200 << 20
	tgtSlowP99      = 5000 // µs: "keep their echo p99 under 5 ms"
)

func fmtGB(b float64) string { return fmt.Sprintf("%.2f GB", b/1e9) }

// gcRows are the echo item's GC rows.
func gcRows(id string) []figRow {
	return []figRow{
		{label: "GC cycles during the echo window", caseID: id, key: "gc_cycles", format: fmtCount},
		{label: "GC CPU ÷ phxd CPU, echo window", caseID: id, key: "gc_cpu_share_pct", format: fmtPct},
		{label: "longest GC stop-the-world pause", caseID: id, key: "gc_stw_max_us", format: fmtLat},
		{label: "250 ms slots overlapping a GC cycle", caseID: id, key: "gc_slots_pct", format: fmtPct},
		{label: "… among the slots holding an echo over the run's p99", caseID: id, key: "slow_slots_gc_pct", format: fmtPct},
		{label: "median slot p99, slots with GC", caseID: id, key: "echo_p99_gc_slots_us", format: fmtLat},
		{label: "median slot p99, slots without GC", caseID: id, key: "echo_p99_other_slots_us", format: fmtLat},
	}
}

// presenceRows are the presence item's rows for case id: the plain case
// (d "") or the compressed one (d ", deflate", which adds its bytes
// inflated and its sockets that agreed on compression).
func presenceRows(id, d string) []figRow {
	bytesLabel := "bytes received by the clients"
	if d != "" {
		bytesLabel += ", on the wire"
	}
	rows := []figRow{
		{label: "joins/s (first connect → last join)" + d, caseID: id, key: "connect_joins_per_s", format: fmtRate,
			target: tgtPresenceRate, op: ">=", tgtText: "≥ 3,000/s"},
		{label: "server CPU per join (first connect → last join)" + d, caseID: id, key: "cpu_per_connect_join_us", format: fmtUS,
			target: tgtPresenceCPU, op: "<=", tgtText: "≤ 150 µs"},
		{label: "server CPU per join, whole run (diffs after the last join included)" + d, caseID: id, key: "server_cpu_per_joined_us", format: fmtUS},
		{label: "bytes model: the bytes received in as many write(2) calls as phxd made, per join, same run" + d, caseID: id, key: "presence_floor_us", format: fmtUS},
		{label: "server CPU per join, whole run ÷ bytes model" + d, caseID: id, key: "presence_vs_floor", format: fmtX},
		{label: "frames received by the clients" + d, caseID: id, key: "frames_in", format: fmtCount},
		{label: bytesLabel + d, caseID: id, key: "bytes_in", format: fmtGB},
	}
	if d == "" {
		rows[0].phxText, rows[5].phxText = "crashed", "42.7M"
	} else {
		rows = append(rows,
			figRow{label: "bytes received by the clients, inflated" + d, caseID: id, key: "bytes_in_inflated", format: fmtGB},
			figRow{label: "inflated ÷ on the wire" + d, caseID: id, key: "deflate_ratio", format: fmtX})
	}
	rows = append(rows,
		figRow{label: "GC CPU ÷ phxd CPU, first connect → last join" + d, caseID: id, key: "gc_cpu_share_pct", format: fmtPct},
		figRow{label: "GC cycles, first connect → last join" + d, caseID: id, key: "gc_cycles", format: fmtCount},
		figRow{label: "phxd peak RSS" + d, caseID: id, key: "rss_peak_b", format: fmtMiB, target: tgtPresenceRSS, op: "<=", tgtText: "≤ 200 MB", worst: true})
	if d != "" {
		rows = append(rows, figRow{label: "sockets with permessage-deflate agreed (worst run)" + d, caseID: id, key: "deflate_negotiated",
			format: fmtCount, target: presenceN, op: ">=", tgtText: "10,000", worst: true})
	}
	return append(rows,
		figRow{label: "sockets joined (worst run)" + d, caseID: id, key: "joined", format: fmtCount, target: presenceN, op: ">=", tgtText: "10,000", worst: true},
		figRow{label: "errors (worst run)" + d, caseID: id, key: "errors", format: fmtCount, target: 0, op: "<=", tgtText: "0", worst: true})
}

// moreItemRows are the rows of the presence and slow items.
func moreItemRows(item string, has func(string) bool) []figRow {
	switch item {
	case "presence":
		id := fmt.Sprintf("presence-%d", presenceN)
		var rows []figRow
		if has(id + deflateSuffix) {
			rows = presenceRows(id+deflateSuffix, ", deflate")
		}
		if !has(id) {
			return rows
		}
		return append(presenceRows(id, ""), rows...)
	case "slow":
		id := fmt.Sprintf("slow-%d", slowN)
		if !has(id) {
			return nil
		}
		return []figRow{
			{label: "echo round trip p50 of the 1,000 others", caseID: id, key: "echo_p50_us", format: fmtLat},
			{label: "echo round trip p99 of the 1,000 others", caseID: id, key: "echo_p99_us", format: fmtLat,
				target: tgtSlowP99, op: "<=", tgtText: "< 5 ms", worst: true},
			{label: "the blocked channel's replies, p50", caseID: id, key: "block_p50_us", format: fmtLat},
			{label: "echo replies/s achieved", caseID: id, key: "echo_replies_per_s", format: fmtRate},
			{label: "errors (worst run)", caseID: id, key: "errors", format: fmtCount, target: 0, op: "<=", tgtText: "0", worst: true},
		}
	}
	return nil
}

// clientNote says where every latency figure's client runs.
const clientNote = "Clients: phxbench on the same 2-core machine as phxd, over loopback, connecting from 127.0.0.2–127.0.0.33"

// itemNotes head the items' tables: the arrival pattern and the client.
var itemNotes = map[string]string{
	"fanout": "Arrival: once every subscriber has joined, one publisher pushes 200 stamped `new_msg` with up to 100 in flight; delivery latency is publish → receipt. " +
		clientNote + " (one process). The floors: the same run's first broadcast frame written by a bare thread to as many loopback sockets as were open, one frame per write(2), and again as many frames per writev(2) as phxd achieved in the run (its `phxgo_frames_out_total` ÷ `phxgo_writev_calls_total`); the target is read against the one-frame-per-write floor, as the issue states it, and both ratios are shown.",
	"connect": "Arrival: as fast as 256 handshakes in flight allow. " + clientNote +
		" (one process). The floor (`-floor`): a bare epoll server child answering the same number of sockets, as fast, with accept4 + epoll_ctl, then one read(2) + one write(2) for the upgrade (a 101-sized answer) and one of each for the join (a join-reply-sized answer); the close is not counted, as in phxd's figure.",
	"echo": "Arrival: each socket pushes every 0.5 s from a random phase once all have joined (2,000/s in total, open loop per socket, one push outstanding at most); round trip is push → reply. " +
		clientNote + " (one process). The floor (`-floor`, 5 s after the run): a bare epoll server child, the same 1,000 sockets and arrival pattern, requests and replies of the echo push's and reply's sizes on the wire, one read(2) and one write(2) per echo. Then the floor's client measures phxd too (the rows *phxd with the floor's client*: the same sockets, arrival pattern and raw reads, each socket upgraded and joined first, the echo push sent with a fixed ref), so that the two round trips are taken the same way: the floor's client counts reply bytes on a goroutine of its own, where phxbench's parses every frame and JSON reply on one loop. GC: phxd runs with `GODEBUG=gctrace=1`; the cycles inside the echo window are read from its log. Their CPU is the runtime's count (the time GC workers and assists held a processor), which on a loaded machine exceeds what the OS gave them, so the share is an upper bound there.",
	"presence": "Arrival: 10,000 connects offered at 5,000/s (two phxbench processes, 2,500/s each), each joining `room:bench` (the example app tracks the user in Presence and pushes `presence_state`), users distinct. " +
		clientNote + ". Frames and bytes are what the clients received: presence_state and presence_diff mostly. The bytes model (`-baseline` with `-metrics`, after the run): the bytes the clients received, written by one thread to 10,000 fresh loopback sockets read by a sink process, in as many write(2) calls as phxd made during the run (`phxgo_writev_calls_total`) or as it sent frames, whichever is fewer, one frame of the mean size per call; it is read against phxd's CPU per join over the whole run, which is what those calls and bytes cover. It is not a strict floor: one write's cost is not linear in its size (it jumps past one 64 KB loopback segment), so it swings with the run's mean frame size. phxd runs with `GODEBUG=gctrace=1` here too (the GC share is the runtime's count, an upper bound on a loaded machine: it can pass 100 %). The case's hard bound is 2 minutes (`-duration 2m`, added after the built-in's default, 64 s at this size and rate, cut a run at 150 joins/s on a loaded machine short). phxbench's phoenix.js-style heartbeats (every 30 s) run here: a run longer than 30 s sends them, and their replies wait behind the presence traffic." + deflateNote,
	"slow": "Arrival: as in echo (1,000 sockets, 2,000 pushes/s in total) on `bench:echo`, while one more socket on the same topic pushes the bench event `block` (its handler sleeps 1 s) back to back. " +
		clientNote + " (one process).",
}
