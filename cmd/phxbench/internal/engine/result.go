package engine

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/baseline"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/floor"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
)

// Result is the merged outcome of a run, written by -out as JSON. Latencies
// are in microseconds, times in seconds since the start of the run.
type Result struct {
	Scenario    string                  `json:"scenario"`
	Description string                  `json:"description,omitempty"`
	URL         string                  `json:"url"`
	Vsn         string                  `json:"vsn"`
	Transport   string                  `json:"transport,omitempty"` // longpoll or mixed; empty: websocket
	Procs       int                     `json:"procs"`
	Started     time.Time               `json:"started"`
	ElapsedS    float64                 `json:"elapsed_s"`
	Interrupted bool                    `json:"interrupted,omitempty"`  // stopped by SIGINT/SIGTERM
	DeadlineHit bool                    `json:"deadline_hit,omitempty"` // the scenario's duration ended the run
	Counters    Counters                `json:"counters"`
	Rates       Rates                   `json:"rates"`
	Latency     map[string]hist.Summary `json:"latency"`
	Deliveries  Deliveries              `json:"deliveries"`
	Errors      map[string]int64        `json:"errors"`
	Server      *ServerCost             `json:"server,omitempty"`
	Servers     []*ServerCost           `json:"servers,omitempty"` // every sampled process (-pid lists several), Server first
	Targets     []TargetCounts          `json:"targets,omitempty"` // per server, when the URL lists several
	Client      ClientCost              `json:"client"`
	Baseline    *baseline.Result        `json:"baseline,omitempty"`
	Floor       *floor.Result           `json:"floor,omitempty"`       // -floor: the path's syscall floor
	Compression *Compression            `json:"compression,omitempty"` // -compress: permessage-deflate offered
	StepS       float64                 `json:"timeline_step_s"`
	Timeline    []TimelinePoint         `json:"timeline"`
	Checks      []Check                 `json:"checks"`
	OK          bool                    `json:"ok"`
	Phases      map[string]float64      `json:"phases"`
	Histograms  map[string]hist.JSON    `json:"histograms"`

	marks marks
	Hists map[string]*hist.Hist `json:"-"` // the merged histograms (Histograms is their JSON)
	Frame []byte                `json:"-"` // the first stamped broadcast frame a client received (for -baseline)
}

// Rates are throughputs over the phase each belongs to.
type Rates struct {
	ConnectPerS     float64 `json:"connects_per_s"`      // connects / (last connect − first connect)
	ConnectJoinPerS float64 `json:"connect_joins_per_s"` // joins / (last join − first connect)
	RepliesPerS     float64 `json:"replies_per_s"`       // push replies / (last reply − first push)
	DeliveriesPerS  float64 `json:"deliveries_per_s"`    // deliveries / (last delivery − first publish)
}

// Deliveries account stamped messages: expected is, over every delivery
// window (a client's join ok → leave or end), the stamped pushes answered
// ok and sent within it; lost is what those windows did not receive.
type Deliveries struct {
	Received      int64 `json:"received"`
	Expected      int64 `json:"expected"`
	Lost          int64 `json:"lost"`
	OutsideWindow int64 `json:"outside_window"`
	Published     int64 `json:"published"`
	Windows       int64 `json:"windows"`
}

// ServerCost is the server process's cost, from /proc samples.
type ServerCost struct {
	PID                 int               `json:"pid"`
	RSSStart            int64             `json:"rss_start"`
	RSSEnd              int64             `json:"rss_end"` // last sample before the sockets closed
	RSSPeak             int64             `json:"rss_peak"`
	RSSPerSocket        float64           `json:"rss_per_socket"`            // (end − start) / sockets open at the end; 0 when RSS fell below the start
	RSSBelowStart       bool              `json:"rss_below_start,omitempty"` // RSS at the end was below the start (a warm server returned memory): no per-socket figure
	CPUS                float64           `json:"cpu_s"`
	CPUPerConnectJoinUS float64           `json:"cpu_per_connect_join_us,omitempty"`
	CPUPerPushUS        float64           `json:"cpu_per_push_us,omitempty"`
	CPUPerDeliveryUS    float64           `json:"cpu_per_delivery_us,omitempty"`
	ThreadsMax          int               `json:"threads_max"`
	GoroutinesMax       int               `json:"goroutines_max,omitempty"`
	VsBareWrite         float64           `json:"cpu_per_delivery_vs_bare_write,omitempty"`
	Samples             []procstat.Sample `json:"samples"`
}

// ClientCost is phxbench's own cost, all processes.
type ClientCost struct {
	CPUS   float64 `json:"cpu_s"`
	MaxRSS int64   `json:"max_rss"` // largest of the processes
}

// TimelinePoint is one slot (timeline_step_s long) of the run.
type TimelinePoint struct {
	T       float64               `json:"t"`       // slot start, seconds since the start
	Latency map[string][3]float64 `json:"latency"` // name → p50, p99, max (µs)
	Counts  map[string]int64      `json:"counts"`  // events in the slot
}

// Check is one expectation and whether it held.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// aggregate merges the workers' results.
func aggregate(p *scenario.Program, o RunOptions, t0 int64, ws []*workerResult, samples [][]procstat.Sample) *Result {
	r := &Result{
		Scenario: p.Scenario.Name, Description: p.Scenario.Description, URL: p.Scenario.URL, Vsn: p.Scenario.Vsn,
		Transport: p.TransportName(),
		Procs:     len(ws), Started: time.Unix(0, t0), Errors: map[string]int64{},
		Latency: map[string]hist.Summary{}, Histograms: map[string]hist.JSON{}, Hists: map[string]*hist.Hist{},
	}
	m := merged{windows: map[string][][3]int64{}, pubs: map[string][]int64{}, tl: map[string][]*hist.Hist{}, counts: map[string][]int64{}}
	for _, w := range ws {
		r.merge(w, &m)
	}
	windows, pubs, tl, counts := m.windows, m.pubs, m.tl, m.counts
	for k, h := range r.Hists {
		r.Latency[k] = h.Summary()
		r.Histograms[k] = h.Export()
	}
	r.ElapsedS = float64(r.marks.Close-t0) / 1e9
	r.Interrupted, r.DeadlineHit = r.marks.Stopped, r.marks.Deadline
	r.Deliveries = lossOf(windows, pubs)
	r.Deliveries.Received = r.Counters.Deliveries
	r.Deliveries.OutsideWindow = r.Counters.Unexpected
	r.Rates = ratesOf(&r.Counters, &r.marks)
	r.Compression = compressionOf(&r.Counters)
	r.StepS = max(o.Step, time.Millisecond).Seconds()
	r.Timeline = timelineOf(tl, counts, r.StepS)
	r.Phases = phasesOf(&r.marks, t0)
	if len(samples) > 0 {
		r.Server = serverCost(o.PID, samples[0], &r.Counters, &r.marks, t0)
	}
	if len(samples) > 1 {
		r.Servers = append(r.Servers, r.Server)
		for i, pid := range o.MorePIDs {
			r.Servers = append(r.Servers, serverCost(pid, samples[i+1], &r.Counters, &r.marks, t0))
		}
	}
	if len(p.Targets) > 1 {
		r.Targets = make([]TargetCounts, len(p.Targets))
		for _, w := range ws {
			for i, t := range w.Targets {
				r.Targets[i].add(t)
			}
		}
		for i := range r.Targets {
			r.Targets[i].URL = p.Targets[i].URL
		}
	}
	return r
}

// merged holds the per-worker series being merged.
type merged struct {
	windows map[string][][3]int64
	pubs    map[string][]int64
	tl      map[string][]*hist.Hist
	counts  map[string][]int64
}

// merge adds one worker's result.
func (r *Result) merge(w *workerResult, m *merged) {
	r.Counters.add(w.Counters)
	r.marks.merge(w.Marks)
	for k, v := range w.Errors {
		r.Errors[k] += v
	}
	mergeHists(r.Hists, w.Hists)
	mergeTimeline(m.tl, w.Timeline)
	for k, v := range w.Rates {
		m.counts[k] = addSeries(m.counts[k], v)
	}
	for k, v := range w.Windows {
		m.windows[k] = append(m.windows[k], v...)
	}
	for k, v := range w.Publishes {
		m.pubs[k] = append(m.pubs[k], v...)
	}
	r.Client.CPUS += w.CPU
	r.Client.MaxRSS = max(r.Client.MaxRSS, w.MaxRSS)
	if r.Frame == nil {
		r.Frame = w.Frame
	}
}

// mergeHists adds a worker's histograms.
func mergeHists(dst map[string]*hist.Hist, src map[string]hist.JSON) {
	for k, j := range src {
		if dst[k] == nil {
			dst[k] = hist.New(j.Bits)
		}
		dst[k].Merge(hist.From(j))
	}
}

// mergeTimeline adds a worker's per-slot histograms.
func mergeTimeline(dst map[string][]*hist.Hist, src map[string][]*hist.JSON) {
	for k, secs := range src {
		d := dst[k]
		for len(d) < len(secs) {
			d = append(d, nil)
		}
		for i, j := range secs {
			if j == nil {
				continue
			}
			if d[i] == nil {
				d[i] = hist.New(j.Bits)
			}
			d[i].Merge(hist.From(*j))
		}
		dst[k] = d
	}
}

// addSeries adds b to a element-wise, growing a.
func addSeries(a, b []int64) []int64 {
	for len(a) < len(b) {
		a = append(a, 0)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

// lossOf counts, for each topic with stamped publishes, the publishes that
// fall in each delivery window against what the window received.
func lossOf(windows map[string][][3]int64, pubs map[string][]int64) Deliveries {
	var d Deliveries
	for topic, ps := range pubs {
		slices.Sort(ps)
		d.Published += int64(len(ps))
		for _, w := range windows[topic] {
			lo := sort.Search(len(ps), func(i int) bool { return ps[i] >= w[0] })
			hi := sort.Search(len(ps), func(i int) bool { return ps[i] > w[1] })
			exp := int64(hi - lo)
			d.Expected += exp
			d.Windows++
			if exp > w[2] {
				d.Lost += exp - w[2]
			}
		}
	}
	return d
}

// perS divides n by the seconds between two marks.
func perS(n int64, from, to int64) float64 {
	if n == 0 || to <= from {
		return 0
	}
	return float64(n) / (float64(to-from) / 1e9)
}

// ratesOf computes the phase throughputs.
func ratesOf(c *Counters, m *marks) Rates {
	return Rates{
		ConnectPerS:     perS(c.Connected, m.FirstConnect, m.LastConnect),
		ConnectJoinPerS: perS(c.Joined, m.FirstConnect, m.LastJoin),
		RepliesPerS:     perS(c.Replies, m.FirstPush, m.LastReply),
		DeliveriesPerS:  perS(c.Deliveries, m.FirstPublish, m.LastDelivery),
	}
}

// phasesOf reports the marks as seconds since the start.
func phasesOf(m *marks, t0 int64) map[string]float64 {
	out := map[string]float64{}
	add := func(k string, v int64) {
		if v != 0 {
			out[k] = float64(v-t0) / 1e9
		}
	}
	add("first_connect", m.FirstConnect)
	add("last_connect", m.LastConnect)
	add("last_join", m.LastJoin)
	add("first_push", m.FirstPush)
	add("last_reply", m.LastReply)
	add("first_publish", m.FirstPublish)
	add("last_delivery", m.LastDelivery)
	add("end_steps", m.EndSteps)
	add("close", m.Close)
	return out
}

// timelineOf turns per-slot histograms and counts into points.
func timelineOf(tl map[string][]*hist.Hist, counts map[string][]int64, step float64) []TimelinePoint {
	n := 0
	for _, v := range tl {
		n = max(n, len(v))
	}
	for _, v := range counts {
		n = max(n, len(v))
	}
	pts := make([]TimelinePoint, n)
	for i := range pts {
		pts[i] = TimelinePoint{T: float64(i) * step, Latency: map[string][3]float64{}, Counts: map[string]int64{}}
	}
	for _, k := range slices.Sorted(maps.Keys(tl)) {
		for i, h := range tl[k] {
			if h != nil && h.Count() > 0 {
				pts[i].Latency[k] = [3]float64{hist.US(h.Quantile(0.5)), hist.US(h.Quantile(0.99)), hist.US(h.Max())}
			}
		}
	}
	for k, v := range counts {
		for i, x := range v {
			pts[i].Counts[k] = x
		}
	}
	return pts
}

// serverCost attributes the server's CPU to the run's phases.
func serverCost(pid int, s []procstat.Sample, c *Counters, m *marks, t0 int64) *ServerCost {
	sc := &ServerCost{PID: pid, Samples: s}
	if len(s) == 0 {
		return sc
	}
	sc.RSSStart = s[0].RSS
	sc.RSSEnd = procstat.RSSBefore(s, m.Close)
	sc.CPUS = s[len(s)-1].CPU - s[0].CPU
	for _, x := range s {
		sc.RSSPeak = max(sc.RSSPeak, x.RSS)
		sc.ThreadsMax = max(sc.ThreadsMax, x.Threads)
		sc.GoroutinesMax = max(sc.GoroutinesMax, x.Goroutines)
	}
	switch {
	case sc.RSSEnd < sc.RSSStart:
		// A server warmed by an earlier run can return memory during this
		// one; a negative cost per socket would be meaningless.
		sc.RSSBelowStart = true
	case c.OpenAtEnd > 0:
		sc.RSSPerSocket = float64(sc.RSSEnd-sc.RSSStart) / float64(c.OpenAtEnd)
	}
	per := func(n int64, from, to int64) float64 {
		if n == 0 || from == 0 || to <= from {
			return 0
		}
		return (procstat.CPUAt(s, to) - procstat.CPUAt(s, from)) * 1e6 / float64(n)
	}
	sc.CPUPerConnectJoinUS = per(c.Joined, m.FirstConnect, m.LastJoin)
	if c.Deliveries == 0 { // otherwise the push window is mostly fan-out work
		sc.CPUPerPushUS = per(c.Replies, m.FirstPush, m.LastReply)
	}
	sc.CPUPerDeliveryUS = per(c.Deliveries, m.FirstPublish, m.LastDelivery)
	return sc
}

// Check evaluates the scenario's expectations and sets r.OK.
func (r *Result) Check(e scenario.Expect) {
	rate := scenario.DefaultConnectErrRate
	if e.MaxConnectErrorRate != nil {
		rate = *e.MaxConnectErrorRate
	}
	var maxErr, maxLost int64
	if e.MaxErrors != nil {
		maxErr = *e.MaxErrors
	}
	if e.MaxLost != nil {
		maxLost = *e.MaxLost
	}
	c := &r.Counters
	attempts := max(c.Clients, 1)
	connRate := float64(c.ConnectFailed) / float64(attempts)
	var other int64
	for _, v := range r.Errors {
		other += v
	}
	other -= c.ConnectFailed
	r.add("connect errors", connRate <= rate, fmt.Sprintf("%d of %d (%.3f%%), limit %.3f%%", c.ConnectFailed, c.Clients, 100*connRate, 100*rate))
	r.add("other errors", other <= maxErr, fmt.Sprintf("%d, limit %d", other, maxErr))
	if r.Interrupted {
		r.add("completed", false, "interrupted by a signal")
	}
	r.add("lost messages", r.Deliveries.Lost <= maxLost, fmt.Sprintf("%d of %d expected, limit %d", r.Deliveries.Lost, r.Deliveries.Expected, maxLost))
	for _, name := range slices.Sorted(maps.Keys(e.P99)) {
		lim := e.P99[name].D()
		h := r.Hists[name]
		if h == nil {
			r.add("p99 "+name, false, "no samples")
			continue
		}
		p := time.Duration(h.Quantile(0.99))
		r.add("p99 "+name, p <= lim, fmt.Sprintf("%v, limit %v", p.Round(time.Microsecond), lim))
	}
	r.OK = true
	for _, ch := range r.Checks {
		r.OK = r.OK && ch.OK
	}
}

// add appends a check.
func (r *Result) add(name string, ok bool, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: detail})
}
