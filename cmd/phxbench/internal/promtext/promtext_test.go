package promtext

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

const text = `# HELP phxgo_frames_out_total Frames written.
# TYPE phxgo_frames_out_total counter
phxgo_frames_out_total 2.0002e+06
phxgo_writev_calls_total 500050
phxgo_sockets_open 0
go_goroutines 20
phxgo_labelled{kind="x"} 3
`

func TestParse(t *testing.T) {
	m := Parse(text, "phxgo_")
	if len(m) != 3 || m["phxgo_frames_out_total"] != 2000200 || m["phxgo_writev_calls_total"] != 500050 {
		t.Errorf("Parse phxgo_ = %v", m)
	}
	if m := Parse(text, ""); len(m) != 4 || m["go_goroutines"] != 20 {
		t.Errorf("Parse all = %v", m)
	}
}

func TestScrapeAndDelta(t *testing.T) {
	n := 0.0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n += 10
		_, _ = w.Write([]byte("phxgo_writev_calls_total " + map[float64]string{10: "10", 20: "20"}[n] + "\n"))
	}))
	defer srv.Close()
	before, after := Scrape(srv.URL, "phxgo_"), Scrape(srv.URL, "phxgo_")
	if d := Delta(after, before); d["phxgo_writev_calls_total"] != 10 {
		t.Errorf("delta %v of %v, %v", d, after, before)
	}
	if Delta(after, nil) != nil || Delta(nil, before) != nil {
		t.Error("a failed scrape gave a delta")
	}
	if Scrape("http://127.0.0.1:1/metrics", "") != nil {
		t.Error("an unreachable endpoint gave counters")
	}
}
