package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/phxgo/phxgo/phx"
)

// serverCollector exports the server's counters at scrape time, so the
// hot paths only bump atomics.
type serverCollector struct {
	srv *phx.Server

	open, lpSessions, conns                                *prometheus.Desc
	accepted, rejected, braked, joinTimeouts               *prometheus.Desc
	slowConsumers, protocolErrors, writes, framesOut, http *prometheus.Desc
	tlsHandshakes, tlsInProgress                           *prometheus.Desc
}

func newServerCollector(srv *phx.Server) *serverCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("phxgo_"+name, help, nil, nil)
	}
	return &serverCollector{srv: srv,
		open:           d("sockets_open", "Open sockets (WebSocket and LongPoll)."),
		lpSessions:     d("longpoll_sessions", "Live LongPoll sessions."),
		conns:          d("websocket_connections", "Open upgraded WebSocket connections."),
		accepted:       d("connects_accepted_total", "Connects accepted."),
		rejected:       d("connects_rejected_total", "Connects refused by the connect handler."),
		braked:         d("connects_braked_total", "Retries refused before the upgrade by the reconnect brake."),
		joinTimeouts:   d("join_timeouts_total", "Sockets closed for joining nothing within the join deadline."),
		slowConsumers:  d("slow_consumers_total", "Connections closed because they did not read their frames."),
		protocolErrors: d("protocol_errors_total", "Connections closed for WebSocket protocol violations."),
		writes:         d("writev_calls_total", "writev system calls on WebSocket connections."),
		framesOut:      d("frames_out_total", "Frames written to WebSocket connections."),
		http:           d("http_handoffs_total", "Non-WebSocket requests handed to net/http."),
		tlsHandshakes: prometheus.NewDesc("phxgo_tls_handshakes_total",
			"TLS handshakes (-tls-cert) by result: ok, failed (or timed out), refused (at the cap of handshakes in progress).",
			[]string{"result"}, nil),
		tlsInProgress: d("tls_handshakes_in_progress", "TLS handshakes running now."),
	}
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	st, ns := c.srv.Stats(), c.srv.NetStats()
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.open, st.OpenSockets)
	gauge(c.lpSessions, int64(c.srv.LongPollSessions()))
	gauge(c.conns, ns.Conns)
	counter(c.accepted, st.Accepted)
	counter(c.rejected, st.Rejected)
	counter(c.braked, st.Braked)
	counter(c.joinTimeouts, st.JoinTimeouts)
	counter(c.slowConsumers, ns.SlowConsumers)
	counter(c.protocolErrors, ns.ProtocolErrors)
	counter(c.writes, ns.Writes)
	counter(c.framesOut, ns.FramesOut)
	counter(c.http, ns.HandedOff)
	for _, r := range []struct {
		result string
		n      int64
	}{{"ok", ns.TLSHandshakes}, {"failed", ns.TLSFailed}, {"refused", ns.TLSRefused}} {
		ch <- prometheus.MustNewConstMetric(c.tlsHandshakes, prometheus.CounterValue, float64(r.n), r.result)
	}
	gauge(c.tlsInProgress, ns.TLSInProgress)
}

// metricsHandler serves Prometheus text: the server's counters, extra
// collectors (a node on Redis: its cluster collector) and the Go runtime's
// and the process's.
func metricsHandler(srv *phx.Server, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(extra...)
	reg.MustRegister(newServerCollector(srv),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
