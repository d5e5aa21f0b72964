package engine

import (
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
	"golang.org/x/sys/unix"
)

// stats collects one process's measurements. Everything but live belongs
// to the engine goroutine; live is read by the progress display.
type stats struct {
	t0        int64
	step      int64 // timeline slot width (ns)
	live      liveCounters
	c         Counters
	marks     marks
	hists     map[string]*hist.Hist
	timeline  map[string][]*hist.Hist // per slot since t0
	rates     map[string][]int64      // events per slot since t0
	errors    map[string]int64
	windows   map[string][][3]int64 // topic → [start, end, received]
	publishes map[string][]int64    // topic → send times of stamped pushes answered ok
	frame     []byte                // one stamped broadcast frame, for the baseline
	targets   []TargetCounts        // per server of the URL list
}

// TargetCounts are the counts of the clients of one server of the URL
// list: the fan-out accounting per node of a cluster.
type TargetCounts struct {
	URL        string `json:"url"`
	Clients    int64  `json:"clients"`
	Joined     int64  `json:"joined"`
	Deliveries int64  `json:"deliveries"`
	OpenAtEnd  int64  `json:"open_at_end"`
}

// add sums o into t (same URL).
func (t *TargetCounts) add(o TargetCounts) {
	t.Clients += o.Clients
	t.Joined += o.Joined
	t.Deliveries += o.Deliveries
	t.OpenAtEnd += o.OpenAtEnd
}

// target returns the counts of target i, growing the list as needed.
func (s *stats) target(i int) *TargetCounts {
	for len(s.targets) <= i {
		s.targets = append(s.targets, TargetCounts{})
	}
	return &s.targets[i]
}

// liveCounters feed the progress line.
type liveCounters struct {
	connecting, open, joined, failed, done atomic.Int64
	pushes, replies, deliveries, errors    atomic.Int64
}

// LiveSnapshot is a copy of liveCounters, summed over workers.
type LiveSnapshot struct {
	Connecting int64 `json:"connecting"`
	Open       int64 `json:"open"`
	Joined     int64 `json:"joined"`
	Failed     int64 `json:"failed"`
	Done       int64 `json:"done"`
	Pushes     int64 `json:"pushes"`
	Replies    int64 `json:"replies"`
	Deliveries int64 `json:"deliveries"`
	Errors     int64 `json:"errors"`
}

func (l *liveCounters) snapshot() LiveSnapshot {
	return LiveSnapshot{
		Connecting: l.connecting.Load(), Open: l.open.Load(), Joined: l.joined.Load(),
		Failed: l.failed.Load(), Done: l.done.Load(), Pushes: l.pushes.Load(),
		Replies: l.replies.Load(), Deliveries: l.deliveries.Load(), Errors: l.errors.Load(),
	}
}

func (s *LiveSnapshot) add(o LiveSnapshot) {
	s.Connecting += o.Connecting
	s.Open += o.Open
	s.Joined += o.Joined
	s.Failed += o.Failed
	s.Done += o.Done
	s.Pushes += o.Pushes
	s.Replies += o.Replies
	s.Deliveries += o.Deliveries
	s.Errors += o.Errors
}

// Counters are the run's totals.
type Counters struct {
	Clients       int64 `json:"clients"`
	Connected     int64 `json:"connected"`
	ConnectFailed int64 `json:"connect_failed"`
	Joined        int64 `json:"joined"`
	JoinFailed    int64 `json:"join_failed"`
	Failed        int64 `json:"failed_after_connect"`
	Unfinished    int64 `json:"unfinished"`
	OpenAtEnd     int64 `json:"open_at_end"`
	PushesSent    int64 `json:"pushes_sent"`
	Replies       int64 `json:"replies"`
	StatusErrors  int64 `json:"status_errors"`
	Timeouts      int64 `json:"timeouts"`
	WaitTimeouts  int64 `json:"wait_timeouts"`
	LateReplies   int64 `json:"late_replies"`
	Heartbeats    int64 `json:"heartbeats"`
	Deliveries    int64 `json:"deliveries"`
	Unexpected    int64 `json:"deliveries_outside_window"`
	FramesIn      int64 `json:"frames_in"`
	FramesOut     int64 `json:"frames_out"`
	BytesIn       int64 `json:"bytes_in"`
	BytesOut      int64 `json:"bytes_out"`
	// permessage-deflate (deflate.go): connections that offered it and
	// that agreed, messages received compressed and their payload bytes
	// on the wire and inflated.
	DeflateOffered    int64 `json:"deflate_offered,omitempty"`
	DeflateNegotiated int64 `json:"deflate_negotiated,omitempty"`
	MsgsInflated      int64 `json:"messages_inflated,omitempty"`
	BytesDeflated     int64 `json:"payload_bytes_deflated,omitempty"`
	BytesInflated     int64 `json:"payload_bytes_inflated,omitempty"`
}

func (c *Counters) add(o Counters) {
	c.Clients += o.Clients
	c.Connected += o.Connected
	c.ConnectFailed += o.ConnectFailed
	c.Joined += o.Joined
	c.JoinFailed += o.JoinFailed
	c.Failed += o.Failed
	c.Unfinished += o.Unfinished
	c.OpenAtEnd += o.OpenAtEnd
	c.PushesSent += o.PushesSent
	c.Replies += o.Replies
	c.StatusErrors += o.StatusErrors
	c.Timeouts += o.Timeouts
	c.WaitTimeouts += o.WaitTimeouts
	c.LateReplies += o.LateReplies
	c.Heartbeats += o.Heartbeats
	c.Deliveries += o.Deliveries
	c.Unexpected += o.Unexpected
	c.FramesIn += o.FramesIn
	c.FramesOut += o.FramesOut
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
	c.DeflateOffered += o.DeflateOffered
	c.DeflateNegotiated += o.DeflateNegotiated
	c.MsgsInflated += o.MsgsInflated
	c.BytesDeflated += o.BytesDeflated
	c.BytesInflated += o.BytesInflated
}

// marks are the moments (unix ns, 0 when it did not happen) that delimit
// the phases server CPU is attributed to.
type marks struct {
	Start        int64 `json:"start"`
	FirstConnect int64 `json:"first_connect"`
	LastConnect  int64 `json:"last_connect"`
	LastJoin     int64 `json:"last_join"`
	FirstPush    int64 `json:"first_push"`
	LastReply    int64 `json:"last_reply"`
	FirstPublish int64 `json:"first_publish"`
	LastDelivery int64 `json:"last_delivery"`
	EndSteps     int64 `json:"end_steps"`
	HoldEnd      int64 `json:"hold_end"`
	Close        int64 `json:"close"`
	Deadline     bool  `json:"deadline,omitempty"`
	Stopped      bool  `json:"stopped,omitempty"`
}

// merge keeps the earliest start marks and the latest end marks.
func (m *marks) merge(o marks) {
	first := func(a *int64, b int64) {
		if b != 0 && (*a == 0 || b < *a) {
			*a = b
		}
	}
	last := func(a *int64, b int64) { *a = max(*a, b) }
	first(&m.Start, o.Start)
	first(&m.FirstConnect, o.FirstConnect)
	first(&m.FirstPush, o.FirstPush)
	first(&m.FirstPublish, o.FirstPublish)
	first(&m.Close, o.Close)
	last(&m.LastConnect, o.LastConnect)
	last(&m.LastJoin, o.LastJoin)
	last(&m.LastReply, o.LastReply)
	last(&m.LastDelivery, o.LastDelivery)
	last(&m.EndSteps, o.EndSteps)
	last(&m.HoldEnd, o.HoldEnd)
	m.Deadline = m.Deadline || o.Deadline
	m.Stopped = m.Stopped || o.Stopped
}

// newStats returns empty stats with timeline slots of step.
func newStats(t0 int64, step time.Duration) *stats {
	return &stats{
		t0: t0, step: int64(max(step, time.Millisecond)), hists: map[string]*hist.Hist{}, timeline: map[string][]*hist.Hist{},
		rates: map[string][]int64{}, errors: map[string]int64{},
		windows: map[string][][3]int64{}, publishes: map[string][]int64{},
	}
}

// slot returns the timeline slot of now.
func (s *stats) slot(now int64) int {
	return max(0, int((now-s.t0)/s.step))
}

// record adds a latency to histogram name and to its timeline.
func (s *stats) record(name string, v, now int64) {
	h := s.hists[name]
	if h == nil {
		h = hist.New(hist.HistBits)
		s.hists[name] = h
	}
	h.Record(v)
	sec := s.slot(now)
	tl := s.timeline[name]
	for len(tl) <= sec {
		tl = append(tl, nil)
	}
	if tl[sec] == nil {
		tl[sec] = hist.New(hist.TimelineBits)
	}
	tl[sec].Record(v)
	s.timeline[name] = tl
}

// count adds one event to the rate series name.
func (s *stats) count(name string, now int64) {
	sec := s.slot(now)
	r := s.rates[name]
	for len(r) <= sec {
		r = append(r, 0)
	}
	r[sec]++
	s.rates[name] = r
}

// err counts an error of kind.
func (s *stats) err(kind string) {
	s.errors[kind]++
	s.live.errors.Add(1)
}

// window records a finished delivery window of topic.
func (s *stats) window(topic string, start, end, recv int64) {
	s.windows[topic] = append(s.windows[topic], [3]int64{start, end, recv})
}

// publish records a stamped push answered ok.
func (s *stats) publish(topic string, ts int64) {
	s.publishes[topic] = append(s.publishes[topic], ts)
}

// workerResult is one process's raw measurements, merged by aggregate.
type workerResult struct {
	Worker    int                     `json:"worker"`
	Counters  Counters                `json:"counters"`
	Marks     marks                   `json:"marks"`
	Hists     map[string]hist.JSON    `json:"hists"`
	Timeline  map[string][]*hist.JSON `json:"timeline"`
	Rates     map[string][]int64      `json:"rates"`
	Errors    map[string]int64        `json:"errors"`
	Windows   map[string][][3]int64   `json:"windows"`
	Publishes map[string][]int64      `json:"publishes"`
	Frame     []byte                  `json:"frame,omitempty"`
	Targets   []TargetCounts          `json:"targets,omitempty"`
	CPU       float64                 `json:"cpu_s"`
	MaxRSS    int64                   `json:"max_rss"`
	Live      LiveSnapshot            `json:"live"`
}

// export builds the result of this process.
func (s *stats) export(e *engine) *workerResult {
	r := &workerResult{
		Worker: e.o.worker, Counters: s.c, Marks: s.marks, Hists: map[string]hist.JSON{},
		Timeline: map[string][]*hist.JSON{}, Rates: s.rates, Errors: s.errors,
		Windows: s.windows, Publishes: s.publishes, Frame: s.frame, Live: s.live.snapshot(),
		Targets: s.targets,
	}
	for k, h := range s.hists {
		r.Hists[k] = h.Export()
	}
	for k, tl := range s.timeline {
		out := make([]*hist.JSON, len(tl))
		for i, h := range tl {
			if h != nil {
				j := h.Export()
				out[i] = &j
			}
		}
		r.Timeline[k] = out
	}
	r.CPU, r.MaxRSS = selfUsage()
	return r
}

// selfUsage returns this process's CPU seconds (user+sys) and peak RSS.
func selfUsage() (cpu float64, maxRSS int64) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime), ru.Maxrss * 1024
}
