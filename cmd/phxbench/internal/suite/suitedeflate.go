package suite

import (
	"slices"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
)

// The presence item's browser-like case: the same 10,000 joins into one
// room with phxd started with -compress and phxbench's clients offering
// permessage-deflate as Chromium and Firefox do (-compress), so that each
// presence_state and presence_diff goes out compressed (phxd compresses a
// shared one once for all who get it).

// deflateSuffix names the compressed twin of a case.
const deflateSuffix = "-deflate"

// deflateCase is c with permessage-deflate on both sides.
func deflateCase(c suiteCase) suiteCase {
	c.ID += deflateSuffix
	c.Args = append(slices.Clone(c.Args), "-compress")
	c.Server = append(slices.Clone(c.Server), "-compress")
	return c
}

// addDeflateFigures adds what a run with -compress says about compression.
func addDeflateFigures(f map[string]float64, r *engine.Result) {
	x := r.Compression
	if x == nil {
		return
	}
	f["deflate_offered"] = float64(x.Offered)
	f["deflate_negotiated"] = float64(x.Negotiated)
	f["bytes_in_inflated"] = float64(x.BytesPlain)
	f["messages_inflated"] = float64(x.Messages)
	setPos(f, "deflate_ratio", x.Ratio)
}

// deflateNote ends the presence item's note.
const deflateNote = " The rows marked *deflate* are the case `presence-10000-deflate`: the same run with phxd started with `-compress` and phxbench with `-compress` (its clients offer `permessage-deflate; client_max_window_bits` as Chromium and Firefox do, phxd answers with no context takeover either way, the clients inflate every compressed message and send their own frames uncompressed); its bytes are on the wire, and again with every compressed payload counted inflated."

// deflateRows are the presence item's rows for the compressed case id.
func deflateRows(id string) []figRow {
	const d = ", deflate"
	return []figRow{
		{label: "joins/s (first connect → last join)" + d, caseID: id, key: "connect_joins_per_s", format: fmtRate,
			target: tgtPresenceRate, op: ">=", tgtText: "≥ 3,000/s"},
		{label: "server CPU per join (first connect → last join)" + d, caseID: id, key: "cpu_per_connect_join_us", format: fmtUS,
			target: tgtPresenceCPU, op: "<=", tgtText: "≤ 150 µs"},
		{label: "server CPU per join, whole run" + d, caseID: id, key: "server_cpu_per_joined_us", format: fmtUS},
		{label: "bytes model: the bytes on the wire in as many write(2) calls, per join, same run" + d, caseID: id, key: "presence_floor_us", format: fmtUS},
		{label: "server CPU per join, whole run ÷ bytes model" + d, caseID: id, key: "presence_vs_floor", format: fmtX},
		{label: "frames received by the clients" + d, caseID: id, key: "frames_in", format: fmtCount},
		{label: "bytes received by the clients, on the wire" + d, caseID: id, key: "bytes_in", format: fmtGB},
		{label: "bytes received by the clients, inflated" + d, caseID: id, key: "bytes_in_inflated", format: fmtGB},
		{label: "inflated ÷ on the wire" + d, caseID: id, key: "deflate_ratio", format: fmtX},
		{label: "GC CPU ÷ phxd CPU, first connect → last join" + d, caseID: id, key: "gc_cpu_share_pct", format: fmtPct},
		{label: "phxd peak RSS" + d, caseID: id, key: "rss_peak_b", format: fmtMiB, target: tgtPresenceRSS, op: "<=", tgtText: "≤ 200 MB", worst: true},
		{label: "sockets with permessage-deflate agreed (worst run)" + d, caseID: id, key: "deflate_negotiated", format: fmtCount,
			target: presenceN, op: ">=", tgtText: "10,000", worst: true},
		{label: "sockets joined (worst run)" + d, caseID: id, key: "joined", format: fmtCount, target: presenceN, op: ">=", tgtText: "10,000", worst: true},
		{label: "errors (worst run)" + d, caseID: id, key: "errors", format: fmtCount, target: 0, op: "<=", tgtText: "0", worst: true},
	}
}
