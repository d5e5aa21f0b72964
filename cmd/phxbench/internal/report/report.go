package report

import (
	"fmt"
	"html"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
)

// HTML renders a self-contained HTML page (inline SVG, no scripts):
// the summary, latency over time, the latency distribution (percentile
// spectrum), throughput over time and, with -pid, the server's RSS and CPU.
func HTML(r *engine.Result) string {
	var b strings.Builder
	status := "PASS"
	if !r.OK {
		status = "FAIL"
	}
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>phxbench %s</title>
<style>body{font:14px sans-serif;margin:2em;max-width:1000px}pre{background:#f6f6f6;padding:1em;white-space:pre-wrap}
h2{margin-top:2em}.pass{color:#070}.fail{color:#b00}svg{background:#fff;border:1px solid #ddd;margin:.5em 0}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>
<h1>phxbench: %s <span class="%s">%s</span></h1><p>%s</p><p>%s · %s · started %s</p>
`, esc(r.Scenario), esc(r.Scenario), strings.ToLower(status), status, esc(r.Description),
		esc(r.URL), esc("vsn "+r.Vsn), r.Started.Format("2006-01-02 15:04:05 MST"))
	var sum strings.Builder
	WriteSummary(&sum, r)
	fmt.Fprintf(&b, "<h2>Summary</h2><pre>%s</pre>\n", esc(sum.String()))
	b.WriteString(percentileTable(r))
	fmt.Fprintf(&b, "<h2>Latency over time</h2><p>Per %g s of the run: median (solid), p99 (dashed), max (dotted). Log scale.</p>\n", r.StepS)
	for _, name := range latencyNames(r) {
		b.WriteString(latencyOverTime(r, name))
	}
	b.WriteString("<h2>Latency distribution</h2><p>Percentile spectrum of each latency: x is the percentile (log scale of 1/(1−q)), y the latency.</p>\n")
	b.WriteString(distribution(r))
	b.WriteString("<h2>Throughput</h2>\n")
	b.WriteString(throughput(r))
	if r.Server != nil && len(r.Server.Samples) > 1 {
		b.WriteString("<h2>Server process</h2>\n")
		b.WriteString(serverCharts(r.Server))
	}
	b.WriteString("</body></html>\n")
	return b.String()
}

// esc escapes text for HTML and SVG.
func esc(s string) string { return html.EscapeString(s) }

// latencyNames orders the histograms: delivery, pushes, join, connect, rest.
func latencyNames(r *engine.Result) []string {
	rank := func(k string) int {
		switch {
		case k == "delivery":
			return 0
		case strings.HasPrefix(k, "push:"):
			return 1
		case k == "join":
			return 2
		case k == "connect":
			return 3
		}
		return 4
	}
	names := slices.Collect(maps.Keys(r.Latency))
	slices.SortFunc(names, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return names
}

// percentileTable renders every histogram's percentiles.
func percentileTable(r *engine.Result) string {
	if len(r.Latency) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("<h2>Latency percentiles</h2><table><tr><th>name</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>\n")
	for _, k := range latencyNames(r) {
		s := r.Latency[k]
		fmt.Fprintf(&b, "<tr><th>%s</th><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			esc(k), s.Count, Dur(s.P50), Dur(s.P90), Dur(s.P99), Dur(s.P999), Dur(s.Max), Dur(s.Mean))
	}
	b.WriteString("</table>\n")
	return b.String()
}

var Palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// Series is one line of a chart.
type Series struct {
	Name  string
	Color string
	Dash  string
	Pts   [][2]float64
}

// Chart is a line chart rendered as SVG.
type Chart struct {
	Title, XLabel, YLabel string
	LogY                  bool
	XTicks                []Tick // nil: automatic
	YFmt                  func(float64) string
	Series                []Series
}

type Tick struct {
	V     float64
	Label string
}

const (
	ChartWidth, ChartHeight = 900, 280
	padL, padR, padT        = 80, 150, 30
	padB                    = 40
)

// SVG renders the chart.
func (c *Chart) SVG() string {
	xmin, xmax, ymin, ymax, ok := c.bounds()
	if !ok {
		return ""
	}
	pw, ph := float64(ChartWidth-padL-padR), float64(ChartHeight-padT-padB)
	sx := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*pw }
	sy := func(y float64) float64 { return padT + ph - (y-ymin)/(ymax-ymin)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-size="11" font-family="sans-serif">`, ChartWidth, ChartHeight)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="13" font-weight="bold">%s</text>`, padL, esc(c.Title))
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, padL, padT, pw, ph)
	c.yAxis(&b, ymin, ymax, sy, pw)
	c.xAxis(&b, xmin, xmax, sx, ph)
	for i, s := range c.Series {
		var pts []string
		var last [2]float64
		for _, p := range s.Pts {
			y := c.ty(p[1])
			if math.IsInf(y, 0) || math.IsNaN(y) {
				continue
			}
			last = [2]float64{sx(p[0]), sy(y)}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", last[0], last[1]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="%s" points="%s"/>`,
			s.Color, s.Dash, strings.Join(pts, " "))
		if len(pts) == 1 {
			// A phase shorter than one timeline step leaves a single point,
			// which a polyline does not draw: mark it.
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, last[0], last[1], s.Color)
		}
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/><text x="%d" y="%d">%s</text>`,
			ChartWidth-padR+10, ChartWidth-padR+30, padT+10+i*16, padT+10+i*16, s.Color, s.Dash, ChartWidth-padR+34, padT+14+i*16, esc(s.Name))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`, padL+int(pw/2), ChartHeight-6, esc(c.XLabel))
	fmt.Fprintf(&b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`, padT+int(ph/2), padT+int(ph/2), esc(c.YLabel))
	b.WriteString("</svg>\n")
	return b.String()
}

// bounds returns the plotted ranges (y already transformed); ok is false
// when there is nothing to plot.
func (c *Chart) bounds() (xmin, xmax, ymin, ymax float64, ok bool) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Pts {
			y := c.ty(p[1])
			if math.IsInf(y, 0) || math.IsNaN(y) {
				continue
			}
			xmin, xmax = math.Min(xmin, p[0]), math.Max(xmax, p[0])
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
	}
	if math.IsInf(xmin, 0) {
		return 0, 0, 0, 0, false
	}
	if c.LogY {
		ymin, ymax = math.Floor(ymin), math.Ceil(ymax)
	} else {
		ymin = math.Min(0, ymin)
	}
	if ymax <= ymin {
		ymax = ymin + 1
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	return xmin, xmax, ymin, ymax, true
}

// ty maps a value to the plotted y (log10 for log charts).
func (c *Chart) ty(v float64) float64 {
	if c.LogY {
		if v <= 0 {
			return math.Inf(-1)
		}
		return math.Log10(v)
	}
	return v
}

// yAxis draws the y grid and labels.
func (c *Chart) yAxis(b *strings.Builder, ymin, ymax float64, sy func(float64) float64, pw float64) {
	var ticks []float64
	if c.LogY {
		for y := ymin; y <= ymax; y++ {
			ticks = append(ticks, y)
		}
	} else {
		step := niceStep((ymax - ymin) / 5)
		for y := math.Ceil(ymin/step) * step; y <= ymax; y += step {
			ticks = append(ticks, y)
		}
	}
	for _, t := range ticks {
		v := t
		if c.LogY {
			v = math.Pow(10, t)
		}
		fmt.Fprintf(b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, padL+pw, sy(t), sy(t), padL-4, sy(t)+4, esc(c.YFmt(v)))
	}
}

// xAxis draws the x grid and labels.
func (c *Chart) xAxis(b *strings.Builder, xmin, xmax float64, sx func(float64) float64, ph float64) {
	ticks := c.XTicks
	if ticks == nil {
		step := niceStep((xmax - xmin) / 8)
		for x := math.Ceil(xmin/step) * step; x <= xmax; x += step {
			ticks = append(ticks, Tick{x, TrimFloat(x)})
		}
	}
	for _, t := range ticks {
		if t.V < xmin || t.V > xmax {
			continue
		}
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" text-anchor="middle">%s</text>`,
			sx(t.V), sx(t.V), padT, padT+ph, sx(t.V), padT+ph+14, esc(t.Label))
	}
}

// niceStep rounds a raw step to 1, 2 or 5 × 10^k.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// TrimFloat formats a number with 4 significant digits.
func TrimFloat(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%.4g", v), ".0") }

// latencyOverTime charts p50/p99/max per second of one histogram.
func latencyOverTime(r *engine.Result, name string) string {
	var p50, p99, pmax Series
	for _, pt := range r.Timeline {
		l, ok := pt.Latency[name]
		if !ok {
			continue
		}
		x := pt.T
		p50.Pts = append(p50.Pts, [2]float64{x, l[0]})
		p99.Pts = append(p99.Pts, [2]float64{x, l[1]})
		pmax.Pts = append(pmax.Pts, [2]float64{x, l[2]})
	}
	p50.Name, p50.Color = "p50", Palette[0]
	p99.Name, p99.Color, p99.Dash = "p99", Palette[1], "6 3"
	pmax.Name, pmax.Color, pmax.Dash = "max", Palette[3], "2 3"
	c := Chart{Title: name, XLabel: "seconds since start", YLabel: "latency", LogY: true,
		YFmt: Dur, Series: []Series{p50, p99, pmax}}
	return c.SVG()
}

// distribution charts the percentile spectrum of every histogram.
func distribution(r *engine.Result) string {
	c := Chart{Title: "latency by percentile", XLabel: "percentile", YLabel: "latency", LogY: true, YFmt: Dur}
	for k, label := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		c.XTicks = append(c.XTicks, Tick{float64(k), label})
	}
	for i, name := range latencyNames(r) {
		h := r.Hists[name]
		if h == nil {
			h = hist.From(r.Histograms[name])
		}
		if h.Count() == 0 {
			continue
		}
		s := Series{Name: name, Color: Palette[i%len(Palette)]}
		top := math.Min(5, math.Log10(float64(h.Count())))
		for x := 0.0; x <= top+1e-9; x += 0.05 {
			q := 1 - math.Pow(10, -x)
			s.Pts = append(s.Pts, [2]float64{x, hist.US(h.Quantile(q))})
		}
		c.Series = append(c.Series, s)
	}
	return c.SVG()
}

// throughput charts events per second: connects and joins, then push
// replies and deliveries (their scales differ by orders of magnitude).
func throughput(r *engine.Result) string {
	out := ""
	for _, names := range [][]string{{"connects", "joins"}, {"replies", "deliveries"}} {
		c := Chart{Title: strings.Join(names, " and ") + " per second", XLabel: "seconds since start", YLabel: "per second", YFmt: SIFmt}
		nonzero := false
		for i, n := range names {
			s := Series{Name: n, Color: Palette[i]}
			for _, pt := range r.Timeline {
				v := float64(pt.Counts[n])
				nonzero = nonzero || v > 0
				s.Pts = append(s.Pts, [2]float64{pt.T, v / max(r.StepS, 1e-3)})
			}
			c.Series = append(c.Series, s)
		}
		if nonzero {
			out += c.SVG()
		}
	}
	return out
}

// SIFmt formats an axis value with k/M suffixes.
func SIFmt(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return TrimFloat(v/1e6) + "M"
	case a >= 1e3:
		return TrimFloat(v/1e3) + "k"
	}
	return TrimFloat(v)
}

// serverCharts charts the server's RSS and CPU use over time.
func serverCharts(s *engine.ServerCost) string {
	rss := Series{Name: "RSS MiB", Color: Palette[0]}
	thr := Series{Name: "threads", Color: Palette[2]}
	cpu := Series{Name: "CPU cores", Color: Palette[1]}
	for i, x := range s.Samples {
		rss.Pts = append(rss.Pts, [2]float64{x.T, float64(x.RSS) / (1 << 20)})
		thr.Pts = append(thr.Pts, [2]float64{x.T, float64(x.Threads)})
		if i > 0 && x.T > s.Samples[i-1].T {
			prev := s.Samples[i-1]
			cpu.Pts = append(cpu.Pts, [2]float64{x.T, (x.CPU - prev.CPU) / (x.T - prev.T)})
		}
	}
	a := Chart{Title: "server memory and threads", XLabel: "seconds since start", YLabel: "MiB / threads", YFmt: SIFmt, Series: []Series{rss, thr}}
	b := Chart{Title: "server CPU", XLabel: "seconds since start", YLabel: "cores", YFmt: TrimFloat, Series: []Series{cpu}}
	return a.SVG() + b.SVG()
}
