package suite

import (
	"fmt"
	"strings"
)

// The fan-out tables of the cluster suite: the large fan-out (deliveries/s,
// CPU per delivery, per node), and the small one whose CPU is mostly
// per-message work (CPU per published message, per node, and what the
// cluster adds to each node against one node without Redis).

// writeClusterFanout writes both fan-out tables.
func writeClusterFanout(b *strings.Builder, cf *clusterFile) {
	single, red1, multi := cf.caseOf("fanout", false, 1, false), cf.caseOf("fanout", false, 1, true), cf.caseOf("fanout", false, 0, true)
	if single != nil && multi != nil {
		fmt.Fprintf(b, "#### Fan-out: %v subscribers, %v messages, publisher on node a\n\n", cf.Options["subs"], cf.Options["msgs"])
		writeFanoutTable(b, cf, []*clusterCase{single, red1, multi})
		writeNodeTable(b, cf, multi, single)
		extra := cf.roundDiffs(multi.ID, single.ID, "cpu_per_delivery_us")
		fmt.Fprintf(b, "Extra phxd CPU per delivery, %d nodes minus one node without Redis (per round, then the median): **%s**, that is %s per published message over the %d nodes.",
			multi.Nodes, spread(extra, fmtUS2), spread(cf.roundDiffs(multi.ID, single.ID, "phxd_cpu_per_msg_us"), fmtUSms), multi.Nodes)
		if red1 != nil {
			fmt.Fprintf(b, " One node on Redis minus one without: %s per delivery.", spread(cf.roundDiffs(red1.ID, single.ID, "cpu_per_delivery_us"), fmtUS2))
		}
		fmt.Fprintf(b, " Per own delivery, the publisher's node spends %s and the receiving nodes %s, against %s on a single node. Redis's own CPU is %s per delivery on top.\n\n",
			spread(cf.vals(multi.ID, "publisher_node_cpu_per_own_delivery_us"), fmtUS2),
			spread(cf.vals(multi.ID, "receiving_nodes_cpu_per_own_delivery_us"), fmtUS2),
			spread(cf.vals(single.ID, "cpu_per_delivery_us"), fmtUS2), spread(cf.vals(multi.ID, "redis_cpu_per_delivery_us"), fmtUS3))
	}
	ssingle, sred1, smulti := cf.caseOf("fanout", true, 1, false), cf.caseOf("fanout", true, 1, true), cf.caseOf("fanout", true, 0, true)
	if ssingle != nil && smulti != nil {
		fmt.Fprintf(b, "#### Per-message cost: small fan-out, %v subscribers, %v messages, publisher on node a\n\n", cf.Options["small_subs"], cf.Options["small_msgs"])
		writeFanoutTable(b, cf, []*clusterCase{ssingle, sred1, smulti})
		writeNodeTable(b, cf, smulti, ssingle)
		fmt.Fprintf(b, "With few sockets per node, most of the CPU is per message, not per delivery. Per published message the %d nodes spend %s in all against %s for one node without Redis (%s more, per round then the median); Redis spends %s.",
			smulti.Nodes, spread(cf.vals(smulti.ID, "phxd_cpu_per_msg_us"), fmtUSms), spread(cf.vals(ssingle.ID, "phxd_cpu_per_msg_us"), fmtUSms),
			spread(cf.roundDiffs(smulti.ID, ssingle.ID, "phxd_cpu_per_msg_us"), fmtUSms), spread(cf.vals(smulti.ID, "redis_cpu_per_msg_us"), fmtUSms))
		if sred1 != nil {
			fmt.Fprintf(b, " One node on Redis, same sockets (it publishes every message and skips it when Redis sends it back), spends %s more per message than without Redis.",
				spread(cf.roundDiffs(sred1.ID, ssingle.ID, "phxd_cpu_per_msg_us"), fmtUSms))
		}
		b.WriteString("\n\n")
	}
}

// writeFanoutTable writes one row per case.
func writeFanoutTable(b *strings.Builder, cf *clusterFile, cases []*clusterCase) {
	b.WriteString("| case | deliveries/s | phxd CPU per delivery (all nodes) | phxd CPU per message | Redis CPU per delivery | lost of expected | delivery p50 / p99 | phxbench CPU |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cases {
		if c == nil {
			continue
		}
		id := c.ID
		lost := fmt.Sprintf("%s of %s", spread(cf.vals(id, "lost"), fmtCount), spread(cf.vals(id, "expected"), fmtCount))
		redis := "–"
		if c.Redis {
			redis = spread(cf.vals(id, "redis_cpu_per_delivery_us"), fmtUS3)
		}
		fmt.Fprintf(b, "| %s (`%s`) | %s | %s | %s | %s | %s | %s / %s | %s |\n", c.Desc, id,
			spread(cf.vals(id, "deliveries_per_s"), fmtRate), spread(cf.vals(id, "cpu_per_delivery_us"), fmtUS2),
			spread(cf.vals(id, "phxd_cpu_per_msg_us"), fmtUSms), redis, lost,
			spread(cf.vals(id, "delivery_p50_us"), fmtLat), spread(cf.vals(id, "delivery_p99_us"), fmtLat),
			spread(cf.vals(id, "client_cpu_s"), fmtS))
	}
	b.WriteString("\n")
}

// writeNodeTable writes the per-node shares of a cluster case; single is
// the one-node case of the same load, for the extra per message.
func writeNodeTable(b *strings.Builder, cf *clusterFile, multi, single *clusterCase) {
	fmt.Fprintf(b, "Per node of `%s`: its CPU from the first publish to the last delivery; *per own delivery* divides it by the deliveries to that node's sockets, *share* by every delivery of the run (the shares add up to the cluster's figure); *extra per message* is its CPU per published message minus what one node without Redis spent for as many deliveries (the single node's CPU per delivery × this node's deliveries per message), per round then the median: the Redis side of the work, publishing on node a, receiving on the others (node a's also holds the share of the push handling, decode and reply, that the single node spreads over the deliveries the other nodes make).\n\n", multi.ID)
	b.WriteString("| node | sockets | deliveries | CPU | per own delivery | share per delivery | per message | extra per message |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var n int
	for _, r := range cf.runsOf(multi.ID) {
		n = max(n, len(r.Nodes))
	}
	for i := range n {
		name := nodeName(i)
		if i == 0 {
			name += " (publisher)"
		}
		get := func(g func(nodeFigures) float64) []float64 { return cf.nodeVals(multi.ID, i, g) }
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name,
			spread(get(func(f nodeFigures) float64 { return float64(f.Subscribers) }), fmtCount),
			spread(get(func(f nodeFigures) float64 { return float64(f.Deliveries) }), fmtCount),
			spread(get(func(f nodeFigures) float64 { return f.CPUS }), fmtS),
			spread(get(func(f nodeFigures) float64 { return f.PerOwnUS }), fmtUS2),
			spread(get(func(f nodeFigures) float64 { return f.PerAllUS }), fmtUS2),
			spread(get(func(f nodeFigures) float64 { return f.PerMsgUS }), fmtUSms),
			spread(cf.nodeExtraPerMsg(multi.ID, single.ID, i), fmtUSms))
	}
	fmt.Fprintf(b, "| all | | %s | | | %s | %s | %s |\n\n", spread(cf.vals(multi.ID, "received"), fmtCount),
		spread(cf.vals(multi.ID, "cpu_per_delivery_us"), fmtUS2), spread(cf.vals(multi.ID, "phxd_cpu_per_msg_us"), fmtUSms),
		spread(cf.roundDiffs(multi.ID, single.ID, "phxd_cpu_per_msg_us"), fmtUSms))
}

// nodeExtraPerMsg is, per round where both cases succeeded, node i's CPU
// per published message minus the single node's CPU per delivery times
// node i's deliveries per message.
func (cf *clusterFile) nodeExtraPerMsg(multi, single string, i int) []float64 {
	var vs []float64
	for _, rm := range cf.runsOf(multi) {
		for _, rs := range cf.runsOf(single) {
			pub := rm.Figures["published"]
			d, ok := rs.Figures["cpu_per_delivery_us"]
			if rs.Round != rm.Round || !ok || pub <= 0 || i >= len(rm.Nodes) {
				continue
			}
			nf := rm.Nodes[i]
			vs = append(vs, nf.PerMsgUS-d*float64(nf.Deliveries)/pub)
		}
	}
	return vs
}

// fmtUSms formats microseconds, as milliseconds from 1,000 µs (either sign).
func fmtUSms(v float64) string {
	if v >= 1000 || v <= -1000 {
		return fmt.Sprintf("%.2f ms", v/1000)
	}
	return fmt.Sprintf("%.1f µs", v)
}
