package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx"
)

// TestClusterCollector: each clusterStats field comes out as its metric,
// with its type and a help text.
func TestClusterCollector(t *testing.T) {
	st := clusterStats{Connected: true, Published: 7, PublishErrors: 2, Received: 11, Dropped: 3,
		Reconnects: 1, Topics: 4, StoreCalls: 40, StoreErrors: 5}
	c := newClusterCollector(func() clusterStats { return st })
	want := map[string]string{
		"phxgo_redis_connected":                   "gauge 1",
		"phxgo_redis_subscribed_topics":           "gauge 4",
		"phxgo_redis_messages_published_total":    "counter 7",
		"phxgo_redis_publish_errors_total":        "counter 2",
		"phxgo_redis_messages_received_total":     "counter 11",
		"phxgo_redis_messages_dropped_total":      "counter 3",
		"phxgo_redis_reconnects_total":            "counter 1",
		"phxgo_redis_presence_store_calls_total":  "counter 40",
		"phxgo_redis_presence_store_errors_total": "counter 5",
	}
	text := scrape(t, metricsHandler(phx.NewServer(phx.Config{}), c))
	for name, tv := range want {
		typ, val, _ := strings.Cut(tv, " ")
		for _, line := range []string{"# TYPE " + name + " " + typ, name + " " + val} {
			if !strings.Contains(text, "\n"+line+"\n") {
				t.Errorf("no line %q in /metrics", line)
			}
		}
		if !strings.Contains(text, "\n# HELP "+name+" ") {
			t.Errorf("%s has no HELP text", name)
		}
	}
	if n := strings.Count(text, "\nphxgo_redis_"); n != len(want) {
		t.Errorf("%d phxgo_redis_ samples, want %d", n, len(want))
	}

	// An outage: the gauge falls to 0.
	st.Connected = false
	text = scrape(t, metricsHandler(phx.NewServer(phx.Config{}), c))
	if !strings.Contains(text, "\nphxgo_redis_connected 0\n") {
		t.Error("phxgo_redis_connected is not 0 during an outage")
	}
}

// TestMetricsSingleNode: without -redis, /metrics has no phxgo_redis_
// metric at all.
func TestMetricsSingleNode(t *testing.T) {
	text := scrape(t, metricsHandler(phx.NewServer(phx.Config{})))
	if strings.Contains(text, "phxgo_redis_") {
		t.Error("a single node exports phxgo_redis_ metrics")
	}
	if !strings.Contains(text, "phxgo_sockets_open ") {
		t.Error("no phxgo_sockets_open")
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, body)
	}
	return "\n" + string(body)
}
