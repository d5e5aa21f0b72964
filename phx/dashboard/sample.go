package dashboard

import (
	"math"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// Sample is one point of the charts: rates over the interval before T,
// gauges at T.
type Sample struct {
	T          int64   `json:"t"`     // Unix milliseconds
	In         float64 `json:"in"`    // client frames handled per second
	Out        float64 `json:"out"`   // frames written per second (WebSocket)
	Broadcasts float64 `json:"bcast"` // broadcasts per second (topics with subscribers)
	Sockets    int64   `json:"sockets"`
	RSS        uint64  `json:"rss"`   // bytes
	GCPauseMs  float64 `json:"gc_ms"` // longest GC stop-the-world pause in the interval
}

// Topic is one row of a top-topics table.
type Topic struct {
	Topic    string  `json:"topic"`
	Channels int     `json:"channels"`
	Rate     float64 `json:"rate"` // broadcasts per second over the last interval
}

// Snapshot is what the page shows; History is filled by Snapshot and the
// stream's first event only.
type Snapshot struct {
	Time       int64 `json:"time"`
	IntervalMs int64 `json:"interval_ms"`
	UptimeS    int64 `json:"uptime_s"`
	Sockets    int64 `json:"sockets"`
	WebSockets int64 `json:"websockets"`
	LongPolls  int64 `json:"longpolls"`
	Channels   int64 `json:"channels"` // joined channel instances
	Topics     int64 `json:"topics"`   // topics with joined channels
	TopicsOK   bool  `json:"topics_available"`
	// TopicsFresh is false when this sample skipped the topic table and
	// the presences (nobody had looked for a while; see walkIdle): then
	// Channels, Topics, the top tables and Presence are empty.
	TopicsFresh bool   `json:"topics_fresh"`
	Sample      Sample `json:"sample"`

	TopBySubscribers []Topic `json:"top_by_subscribers"`
	TopByRate        []Topic `json:"top_by_rate"`

	Presence *PresenceStats `json:"presence"` // nil without WithPresence

	Rejected      map[string]int64 `json:"rejected"` // Connect refusals by reason
	Refusals      Refusals         `json:"refusals"`
	SlowConsumers int64            `json:"slow_consumers"`
	Counters      Counters         `json:"counters"`
	Goroutines    int64            `json:"goroutines"`
	HeapBytes     uint64           `json:"heap_bytes"`

	History []Sample `json:"history,omitempty"`
}

// PresenceStats counts tracked presences.
type PresenceStats struct {
	Topics    int `json:"topics"`
	Presences int `json:"presences"`
}

// Refusals counts connects refused before or around the Connect handler.
type Refusals struct {
	Brake          int64 `json:"brake"`           // reconnect brake (HTTP 429 before the upgrade)
	MaxConns       int64 `json:"max_conns"`       // NetConfig.MaxConns
	PerIP          int64 `json:"per_ip"`          // NetConfig.MaxConnsPerIP
	RateLimited    int64 `json:"rate_limited"`    // NetConfig.ConnRatePerIP
	JoinTimeouts   int64 `json:"join_timeouts"`   // sockets that joined nothing in time
	ProtocolErrors int64 `json:"protocol_errors"` // WebSocket protocol violations
	PauseTimeouts  int64 `json:"pause_timeouts"`  // sockets paused too long
	TLSRefused     int64 `json:"tls_refused"`     // TLS connections closed at NetConfig.MaxTLSHandshakes
	TLSFailed      int64 `json:"tls_failed"`      // TLS handshakes failed or timed out
}

// Counters are totals since the server started.
type Counters struct {
	Accepted  int64 `json:"accepted"`
	Rejected  int64 `json:"rejected"`
	FramesIn  int64 `json:"frames_in"`
	FramesOut int64 `json:"frames_out"`
}

// topN is the length of the top-topics tables.
const topN = 10

// maxRatedTopics bounds the per-topic counts kept between samples (the
// rate of a topic past it is not computed until others go away). A
// variable for tests.
var maxRatedTopics = 50_000

// sampler turns counters into a Snapshot; it is used by one goroutine.
type sampler struct {
	srv     *phx.Server
	pres    presenceStatser
	start   time.Time
	last    time.Time
	lastIn  int64
	lastOut int64
	lastB   map[string]uint64 // per-topic broadcasts at the last sample
	walked  bool              // the last sample walked the topic table
	pauses  []uint64          // GC pause histogram counts at the last sample
	rm      []metrics.Sample
}

type presenceStatser interface{ Stats() PresenceStats }

func newSampler(srv *phx.Server, pres presenceStatser) *sampler {
	now := time.Now()
	s := &sampler{srv: srv, pres: pres, start: now, last: now,
		rm: []metrics.Sample{{Name: "/sched/goroutines:goroutines"},
			{Name: "/memory/classes/heap/objects:bytes"},
			{Name: "/sched/pauses/total/gc:seconds"},
			{Name: "/memory/classes/total:bytes"}}}
	return s
}

// take samples the server at now. walk says whether to walk the topic
// table and the presences too (their cost grows with the sockets, so
// they are skipped while nobody looks); per-topic rates start with the
// second walk in a row.
func (s *sampler) take(now time.Time, walk bool) Snapshot {
	st, ns, ls := s.srv.Stats(), s.srv.NetStats(), s.srv.LiveStats()
	secs := now.Sub(s.last).Seconds()
	rate := func(d float64) float64 {
		if secs <= 0 {
			return 0
		}
		return math.Round(d/secs*10) / 10
	}
	snap := Snapshot{Time: now.UnixMilli(), UptimeS: int64(now.Sub(s.start).Seconds()),
		Sockets: st.OpenSockets, WebSockets: ls.WebSockets, LongPolls: ls.LongPolls,
		Rejected: ls.Rejected, SlowConsumers: ns.SlowConsumers,
		Refusals: Refusals{Brake: st.Braked, MaxConns: ns.Refused, PerIP: ns.RefusedPerIP,
			RateLimited: ns.RateLimited, JoinTimeouts: st.JoinTimeouts,
			ProtocolErrors: ns.ProtocolErrors, PauseTimeouts: ns.PauseTimeouts,
			TLSRefused: ns.TLSRefused, TLSFailed: ns.TLSFailed},
		Counters: Counters{Accepted: st.Accepted, Rejected: st.Rejected, FramesIn: ls.FramesIn,
			FramesOut: ns.FramesOut},
		TopBySubscribers: []Topic{}, TopByRate: []Topic{}}

	_, snap.TopicsOK = s.srv.PubSub().(pubsub.TopicLister)
	var bcastDelta uint64
	if walk {
		bcastDelta = s.walk(&snap, rate)
		if s.pres != nil {
			ps := s.pres.Stats()
			snap.Presence = &ps
		}
	} else {
		s.lastB, s.walked = nil, false
	}

	metrics.Read(s.rm)
	snap.Goroutines = int64(s.rm[0].Value.Uint64())
	snap.HeapBytes = s.rm[1].Value.Uint64()
	snap.Sample = Sample{T: snap.Time, In: rate(float64(ls.FramesIn - s.lastIn)),
		Out: rate(float64(ns.FramesOut - s.lastOut)), Broadcasts: rate(float64(bcastDelta)),
		Sockets: st.OpenSockets, RSS: rss(s.rm[3].Value.Uint64()), GCPauseMs: s.maxPause(s.rm[2].Value)}
	s.last, s.lastIn, s.lastOut = now, ls.FramesIn, ns.FramesOut
	return snap
}

// walk fills snap's topic fields from the server's topic table and
// returns the broadcasts since the last walk. The first walk after a
// pause only records the counts: its rates would span the pause.
func (s *sampler) walk(snap *Snapshot, rate func(float64) float64) (bcastDelta uint64) {
	snap.TopicsFresh = true
	baseline := !s.walked
	cur := make(map[string]uint64, len(s.lastB))
	s.srv.ChannelTopics(func(ts phx.TopicStat) {
		snap.Topics++
		snap.Channels += int64(ts.Channels)
		t := Topic{Topic: ts.Topic, Channels: ts.Channels}
		if ts.Broadcasts > 0 && len(cur) < maxRatedTopics {
			cur[ts.Topic] = ts.Broadcasts
			prev, seen := s.lastB[ts.Topic]
			switch {
			case baseline:
			case seen && ts.Broadcasts >= prev:
				bcastDelta += ts.Broadcasts - prev
				t.Rate = rate(float64(ts.Broadcasts - prev))
			case !seen:
				// A topic that got its first subscriber (and broadcasts)
				// since the last walk, or one past maxRatedTopics then.
				bcastDelta += ts.Broadcasts
				t.Rate = rate(float64(ts.Broadcasts))
			}
		}
		snap.TopBySubscribers = insertTop(snap.TopBySubscribers, t, func(a, b Topic) bool {
			return a.Channels > b.Channels || a.Channels == b.Channels && a.Topic < b.Topic
		})
		if t.Rate > 0 {
			snap.TopByRate = insertTop(snap.TopByRate, t, func(a, b Topic) bool {
				return a.Rate > b.Rate || a.Rate == b.Rate && a.Topic < b.Topic
			})
		}
	})
	s.lastB, s.walked = cur, true
	return bcastDelta
}

// insertTop inserts t into top, kept sorted by less and at most topN long.
func insertTop(top []Topic, t Topic, less func(a, b Topic) bool) []Topic {
	if len(top) == topN && !less(t, top[topN-1]) {
		return top
	}
	i := len(top)
	for i > 0 && less(t, top[i-1]) {
		i--
	}
	if len(top) < topN {
		top = append(top, Topic{})
	}
	copy(top[i+1:], top[i:])
	top[i] = t
	return top
}

// maxPause is the longest GC pause since the last sample, in ms: the
// upper bound of the highest histogram bucket that grew (its lower bound
// when the bucket is open-ended).
func (s *sampler) maxPause(v metrics.Value) float64 {
	if v.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := v.Float64Histogram()
	defer func() { s.pauses = append(s.pauses[:0], h.Counts...) }()
	if len(s.pauses) != len(h.Counts) {
		return 0
	}
	for i := len(h.Counts) - 1; i >= 0; i-- {
		if h.Counts[i] > s.pauses[i] {
			hi := h.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = h.Buckets[i]
			}
			return math.Round(hi*1e6) / 1e3
		}
	}
	return 0
}

// rss is the process's resident set size from /proc (Linux), else the
// Go runtime's total mapped memory (fallback).
func rss(fallback uint64) uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return fallback
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return fallback
	}
	return pages * uint64(os.Getpagesize())
}
