package suite

import (
	"fmt"
	"strings"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
)

// Item 5 of the suite, growth with the number of sockets: the medians at
// each size (growthRows), the markdown table (writeGrowth) and the plot
// (growthSVG).

// growthRow holds the medians at one socket count.
type growthRow struct {
	N int
	V map[string]float64 // key → median (absent: no data)
}

// growthKeys are the growth table's columns: key, heading, format, case
// kind ("" for rss_marginal_b, derived from the rows).
var growthKeys = []struct {
	key, head, kind string
	format          func(float64) string
}{
	{"rss_held_b", "server RSS held", "idle", fmtMiB},
	{"rss_per_socket_b", "RSS per socket", "idle", fmtKiB},
	{"rss_marginal_b", "RSS per added socket", "", fmtKiB},
	{"goroutines_held", "goroutines", "idle", fmtCount},
	{"threads_held", "threads", "idle", fmtCount},
	{"idle_cpu_pct", "server CPU while idle", "idle", fmtPct},
	{"cpu_per_connect_join_us", "CPU per connect+join (ramp 5,000/s)", "idle", fmtUS},
	{"cpu_per_delivery_us", "fan-out CPU per delivery", "fanout", fmtUS2},
	{"bare_write_us", "bare write(2)", "fanout", fmtUS2},
	{"vs_bare_write", "÷ bare write", "fanout", fmtX},
}

// growthRows collects the growth medians.
func growthRows(sf *suiteFile) []growthRow {
	var rows []growthRow
	for _, n := range growthSizes {
		g := growthRow{N: n, V: map[string]float64{}}
		for _, k := range growthKeys {
			if k.kind == "" {
				continue
			}
			if vs := sf.values(fmt.Sprintf("%s-%d", k.kind, n), k.key); len(vs) > 0 {
				g.V[k.key] = median(vs)
			}
		}
		if i := len(rows); i > 0 {
			a, okA := rows[i-1].V["rss_held_b"]
			b, okB := g.V["rss_held_b"]
			if okA && okB {
				g.V["rss_marginal_b"] = (b - a) / float64(n-rows[i-1].N)
			}
		}
		rows = append(rows, g)
	}
	return rows
}

// writeGrowth renders item 5's table and links the plot.
func writeGrowth(b *strings.Builder, sf *suiteFile, svgRel string) {
	rows := growthRows(sf)
	fmt.Fprintf(b, "### %s\n\nMedians; memory, goroutines, threads and connect cost from the `idle` runs, delivery cost from the `fanout` runs at each size. "+
		"RSS per socket is (RSS held − RSS of the fresh server) / sockets, so it includes the pools the first sockets allocate; "+
		"RSS per added socket is the slope from the previous size.\n\n", itemTitles["growth"])
	b.WriteString("| sockets |")
	for _, k := range growthKeys {
		fmt.Fprintf(b, " %s |", k.head)
	}
	b.WriteString("\n|---:|")
	for range growthKeys {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, g := range rows {
		fmt.Fprintf(b, "| %s |", thousands(g.N))
		for _, k := range growthKeys {
			if v, ok := g.V[k.key]; ok {
				fmt.Fprintf(b, " %s |", k.format(v))
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "\n![memory and CPU against sockets](%s)\n\n", svgRel)
	writeCommands(b, sf, "growth")
}

// growthSVG plots the growth medians: memory per socket, total memory, and
// CPU per operation against sockets.
func growthSVG(rows []growthRow) string {
	var ticks []report.Tick
	for _, g := range rows {
		ticks = append(ticks, report.Tick{V: float64(g.N), Label: report.SIFmt(float64(g.N))})
	}
	line := func(name, key string, color, dash string, scale float64) report.Series {
		s := report.Series{Name: name, Color: color, Dash: dash}
		for _, g := range rows {
			if v, ok := g.V[key]; ok {
				s.Pts = append(s.Pts, [2]float64{float64(g.N), v * scale})
			}
		}
		return s
	}
	flat := func(name string, v float64, color, dash string) report.Series {
		s := report.Series{Name: name, Color: color, Dash: dash}
		for _, g := range rows {
			s.Pts = append(s.Pts, [2]float64{float64(g.N), v})
		}
		return s
	}
	charts := []report.Chart{
		{Title: "server RSS per idle joined socket (log scale)", XLabel: "sockets", YLabel: "KiB per socket", LogY: true,
			XTicks: ticks, YFmt: report.TrimFloat, Series: []report.Series{
				line("phxd, average", "rss_per_socket_b", report.Palette[0], "", 1.0/1024),
				line("phxd, per added socket", "rss_marginal_b", report.Palette[3], "4 2", 1.0/1024),
				flat("target 2 KB", tgtRSSPerSocket/1024.0, report.Palette[2], "6 3"),
				flat("Phoenix 38 KB", phxRSSPerSocket/1024.0, report.Palette[1], "2 3"),
			}},
		{Title: "server RSS with the sockets held, goroutines, threads", XLabel: "sockets", YLabel: "MiB / count",
			XTicks: ticks, YFmt: report.SIFmt, Series: []report.Series{
				line("RSS MiB", "rss_held_b", report.Palette[0], "", 1.0/(1<<20)),
				line("goroutines", "goroutines_held", report.Palette[3], "", 1),
				line("threads", "threads_held", report.Palette[4], "", 1),
			}},
		{Title: "server CPU per operation (log scale)", XLabel: "sockets", YLabel: "µs", LogY: true,
			XTicks: ticks, YFmt: report.TrimFloat, Series: []report.Series{
				line("per connect+join (ramp)", "cpu_per_connect_join_us", report.Palette[0], "", 1),
				line("per delivery", "cpu_per_delivery_us", report.Palette[3], "", 1),
				line("bare write(2)", "bare_write_us", report.Palette[5], "4 2", 1),
				flat("connect target 40", tgtConnectCPU, report.Palette[2], "6 3"),
				flat("Phoenix connect 200", phxConnectCPU, report.Palette[1], "2 3"),
			}},
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d"><rect width="100%%" height="100%%" fill="#fff"/>`+"\n", report.ChartWidth, report.ChartHeight*len(charts))
	for i, c := range charts {
		s := c.SVG()
		if s == "" {
			continue
		}
		b.WriteString(strings.Replace(s, "<svg ", fmt.Sprintf(`<svg y="%d" `, i*report.ChartHeight), 1))
	}
	b.WriteString("</svg>\n")
	return b.String()
}
