package procstat

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sampling of the server process (-pid) from /proc, so that the server's
// cost is reported apart from the client's: resident memory, CPU (user +
// system, all threads), thread count, and, when -metrics names a Prometheus
// endpoint exposing go_goroutines, goroutines.

// Sample is one reading. T is unix ns in memory and seconds since the
// run's start in the JSON result.
type Sample struct {
	T          float64 `json:"t"`
	RSS        int64   `json:"rss"`
	CPU        float64 `json:"cpu_s"`
	Threads    int     `json:"threads"`
	Goroutines int     `json:"goroutines,omitempty"`
	At         int64   `json:"-"` // unix ns
}

type Sampler struct {
	pid      int
	interval time.Duration
	metrics  string
	t0       int64
	hz       float64
	page     int64
	client   *http.Client
	mu       sync.Mutex
	samples  []Sample
	lastG    int   // goroutines at the last scrape
	lastGAt  int64 // when (unix ns)
	quit     chan struct{}
	wg       sync.WaitGroup
}

// Start takes a first sample now and then one per interval.
func Start(pid int, interval time.Duration, metrics string, t0 int64) (*Sampler, error) {
	s := &Sampler{pid: pid, interval: max(interval, 10*time.Millisecond), metrics: metrics, t0: t0,
		hz: ClockTicks(), page: int64(os.Getpagesize()), quit: make(chan struct{}),
		client: &http.Client{Timeout: time.Second}}
	first, err := s.read()
	if err != nil {
		return nil, fmt.Errorf("-pid %d: %w", pid, err)
	}
	s.samples = append(s.samples, first)
	s.wg.Add(1)
	go s.loop()
	return s, nil
}

// loop samples every interval until stop.
func (s *Sampler) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			if x, err := s.read(); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, x)
				s.mu.Unlock()
			}
		}
	}
}

// Stop takes a last sample and returns them all.
func (s *Sampler) Stop() []Sample {
	close(s.quit)
	s.wg.Wait()
	if x, err := s.read(); err == nil {
		s.samples = append(s.samples, x)
	}
	return s.samples
}

// read samples /proc/PID/stat (CPU ticks, threads, RSS pages).
func (s *Sampler) read() (Sample, error) {
	now := time.Now().UnixNano()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid))
	if err != nil {
		return Sample{}, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15, num_threads 20, rss 24.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Sample{}, fmt.Errorf("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return Sample{}, fmt.Errorf("short /proc stat")
	}
	num := func(k int) int64 { v, _ := strconv.ParseInt(f[k-3], 10, 64); return v }
	x := Sample{
		At:      now,
		T:       float64(now-s.t0) / 1e9,
		CPU:     float64(num(14)+num(15)) / s.hz,
		Threads: int(num(20)),
		RSS:     num(24) * s.page,
	}
	if s.metrics != "" {
		// Rendering /metrics costs the server CPU: scrape at most once a second.
		if now-s.lastGAt >= int64(time.Second) {
			s.lastG, s.lastGAt = s.goroutines(), now
		}
		x.Goroutines = s.lastG
	}
	return x, nil
}

// goroutines scrapes go_goroutines from a Prometheus text endpoint.
func (s *Sampler) goroutines() int {
	resp, err := s.client.Get(s.metrics)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n)
		}
	}
	return 0
}

// ClockTicks returns the kernel's CLK_TCK from the auxiliary vector
// (AT_CLKTCK), 100 when unknown.
func ClockTicks() float64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for i := 0; i+16 <= len(b); i += 16 {
			if binary.LittleEndian.Uint64(b[i:]) == 17 { // AT_CLKTCK
				if v := binary.LittleEndian.Uint64(b[i+8:]); v > 0 {
					return float64(v)
				}
			}
		}
	}
	return 100
}

// CPUAt interpolates the server's cumulative CPU seconds at unix ns t.
func CPUAt(samples []Sample, t int64) float64 {
	if len(samples) == 0 {
		return 0
	}
	if t <= samples[0].At {
		return samples[0].CPU
	}
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		if t <= b.At {
			if b.At == a.At {
				return b.CPU
			}
			f := float64(t-a.At) / float64(b.At-a.At)
			return a.CPU + f*(b.CPU-a.CPU)
		}
	}
	return samples[len(samples)-1].CPU
}

// RSSBefore returns the RSS of the last sample taken at or before t.
func RSSBefore(samples []Sample, t int64) int64 {
	var rss int64
	for _, s := range samples {
		if s.At > t {
			break
		}
		rss = s.RSS
	}
	return rss
}

// CPU is process pid's CPU seconds so far (user + system, all threads),
// read as the sampler reads it.
func CPU(pid int) (float64, error) {
	s := Sampler{pid: pid, hz: ClockTicks(), page: int64(os.Getpagesize())}
	x, err := s.read()
	return x.CPU, err
}
