package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// SampleEvery is the sampling period of phxd's resources.
const SampleEvery = 250 * time.Millisecond

// Sample is phxd's resource use at one moment.
type Sample struct {
	At      time.Duration `json:"at_ns"` // since the sampler started
	RSS     int64         `json:"rss"`   // bytes
	FDs     int           `json:"fds"`
	Threads int           `json:"threads"`
}

// Peaks are the highest figures the sampler saw.
type Peaks struct {
	RSS        int64 `json:"rss"`
	FDs        int   `json:"fds"`
	Threads    int   `json:"threads"`
	Goroutines int   `json:"goroutines"`
	// OpenSockets and LongPollSessions are the peaks of phxd's
	// phxgo_sockets_open and phxgo_longpoll_sessions gauges.
	OpenSockets      int `json:"open_sockets"`
	LongPollSessions int `json:"longpoll_sessions"`
	// Samples counts /proc samples, MetricsFailed the /metrics scrapes that
	// failed (the server refused or did not answer within 1 s).
	Samples       int `json:"samples"`
	MetricsFailed int `json:"metrics_failed"`
}

// sampler samples a process from /proc every SampleEvery, and its
// go_goroutines from /metrics, keeping peaks; past the RSS cap it calls
// over once.
type sampler struct {
	pid      int
	metrics  string // /metrics URL
	cap      int64  // RSS cap in bytes (0: none)
	over     func(rss int64)
	start    time.Time
	mu       sync.Mutex
	peaks    Peaks
	last     Sample
	overOnce sync.Once
}

func newSampler(pid int, addr string, rssCap int64, over func(int64)) *sampler {
	return &sampler{pid: pid, metrics: "http://" + addr + "/metrics", cap: rssCap, over: over, start: time.Now()}
}

// run samples until ctx ends.
func (s *sampler) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.scrapeLoop(ctx) })
	wg.Go(func() { s.watchRSS(ctx) })
	t := time.NewTicker(SampleEvery)
	defer t.Stop()
	for {
		s.sampleProc()
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
		}
	}
}

// peak returns the peaks so far.
func (s *sampler) peak() Peaks {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peaks
}

// rssNow returns the latest RSS sample.
func (s *sampler) rssNow() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.RSS
}

func (s *sampler) sampleProc() {
	rss, threads, ok := procStatus(s.pid)
	if !ok {
		return
	}
	fds := countFDs(s.pid)
	s.mu.Lock()
	s.last = Sample{At: time.Since(s.start), RSS: rss, FDs: fds, Threads: threads}
	s.peaks.Samples++
	s.peaks.RSS = max(s.peaks.RSS, rss)
	s.peaks.FDs = max(s.peaks.FDs, fds)
	s.peaks.Threads = max(s.peaks.Threads, threads)
	s.mu.Unlock()
	s.checkCap(rss)
}

// WatchEvery is the period of the safety cap's RSS check: a flood can grow
// phxd by 440 MB/s, so the cap is checked more often than samples are
// taken.
const WatchEvery = 50 * time.Millisecond

// watchRSS checks the RSS against the cap every WatchEvery.
func (s *sampler) watchRSS(ctx context.Context) {
	t := time.NewTicker(WatchEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if rss, _, ok := procStatus(s.pid); ok {
			s.checkCap(rss)
		}
	}
}

// checkCap calls over, once, when rss is past the cap; the RSS counts
// toward the peak.
func (s *sampler) checkCap(rss int64) {
	if s.cap <= 0 || rss <= s.cap {
		return
	}
	s.mu.Lock()
	s.peaks.RSS = max(s.peaks.RSS, rss)
	s.mu.Unlock()
	s.overOnce.Do(func() { s.over(rss) })
}

// scrapeLoop reads go_goroutines and the socket gauges from /metrics every SampleEvery over one
// keep-alive connection.
func (s *sampler) scrapeLoop(ctx context.Context) {
	cl := &http.Client{Timeout: time.Second}
	defer cl.CloseIdleConnections()
	t := time.NewTicker(SampleEvery)
	defer t.Stop()
	for {
		body, ok := scrape(ctx, cl, s.metrics)
		s.mu.Lock()
		if ok {
			if g, ok := metricValue(body, "go_goroutines"); ok {
				s.peaks.Goroutines = max(s.peaks.Goroutines, g)
			}
			if n, ok := metricValue(body, "phxgo_sockets_open"); ok {
				s.peaks.OpenSockets = max(s.peaks.OpenSockets, n)
			}
			if n, ok := metricValue(body, "phxgo_longpoll_sessions"); ok {
				s.peaks.LongPollSessions = max(s.peaks.LongPollSessions, n)
			}
		} else if ctx.Err() == nil {
			s.peaks.MetricsFailed++
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// scrape GETs url (phxd's /metrics) and returns the body.
func scrape(ctx context.Context, cl *http.Client, url string) ([]byte, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, false
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return body, err == nil && resp.StatusCode == http.StatusOK
}

// metricValue finds an unlabelled sample `name value` in Prometheus text.
func metricValue(body []byte, name string) (int, bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Bytes()
		rest, ok := bytes.CutPrefix(line, []byte(name+" "))
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
		if err != nil {
			return 0, false
		}
		return int(f), true
	}
	return 0, false
}

// procStatus reads VmRSS (bytes) and Threads from /proc/pid/status.
func procStatus(pid int) (rss int64, threads int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		switch string(f[0]) {
		case "VmRSS:":
			kb, _ := strconv.ParseInt(string(f[1]), 10, 64)
			rss = kb << 10
		case "Threads:":
			threads, _ = strconv.Atoi(string(f[1]))
		}
	}
	return rss, threads, true
}

// countFDs counts /proc/pid/fd entries.
func countFDs(pid int) int {
	d, err := os.Open("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0
	}
	defer d.Close()
	n := 0
	for {
		names, err := d.Readdirnames(4096)
		n += len(names)
		if err != nil {
			return n
		}
	}
}
