// Package promtext reads a server's counters from its Prometheus text
// endpoint (phxd's /metrics): the unlabelled samples whose names start
// with a prefix, and their change over a run. It depends on nothing else
// in phxbench.
package promtext

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Parse returns the unlabelled samples of a text exposition whose names
// start with prefix ("" for all); comments and labelled samples are left
// out.
func Parse(text, prefix string) map[string]float64 {
	m := map[string]float64{}
	for line := range strings.SplitSeq(text, "\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") || !strings.HasPrefix(name, prefix) || strings.ContainsRune(name, '{') {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
			m[name] = v
		}
	}
	return m
}

// Scrape reads url (2 s, 1 MiB at most) and parses it as Parse does; nil
// when it cannot.
func Scrape(url, prefix string) map[string]float64 {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return Parse(string(b), prefix)
}

// Delta is after - before for each sample of after; nil when either is
// nil (a scrape failed: a total since the server started is no delta).
func Delta(after, before map[string]float64) map[string]float64 {
	if after == nil || before == nil {
		return nil
	}
	d := make(map[string]float64, len(after))
	for k, v := range after {
		d[k] = v - before[k]
	}
	return d
}
