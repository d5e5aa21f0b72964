// The phxgo dashboard page: one live stream (Server-Sent Events) of
// samples, or, when the server refuses a stream, a poll of the snapshot
// once per interval. Charts are drawn on canvases by this file.
"use strict";

const state = { history: [], interval: 1000, keep: 600, snap: null, pollTimer: null, es: null };
const $ = (id) => document.getElementById(id);

function fmtNum(v) {
  if (v == null || Number.isNaN(v)) return "–";
  if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
  if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(1) + "k";
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(1);
}
function fmtBytes(v) {
  if (v == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v : v.toFixed(v >= 100 ? 0 : 1)) + " " + units[i];
}
function fmtDur(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return "up " + (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
}
function plural(n, what) { return fmtNum(n) + " " + what + (n === 1 ? "" : "s"); }
function setText(id, v) { const el = $(id); if (el && el.textContent !== v) el.textContent = v; }

function setStatus(cls, text) {
  const el = $("status");
  el.className = "status " + cls;
  el.textContent = text;
}

// rows fills a tbody with rows of cells; cells with r: true align right.
function rows(id, data, empty) {
  const tb = $(id);
  tb.replaceChildren();
  if (data.length === 0) {
    const tr = tb.insertRow(), td = tr.insertCell();
    td.colSpan = 3; td.className = "empty"; td.textContent = empty;
    return;
  }
  for (const cells of data) {
    const tr = tb.insertRow();
    if (cells.nonzero) tr.className = "nonzero";
    for (const c of cells) {
      const td = tr.insertCell();
      td.textContent = c.v;
      if (c.r) td.className = "r";
      if (c.title) td.title = c.title;
    }
  }
}

function render() {
  const s = state.snap;
  if (!s) return;
  setText("sockets", String(s.sockets));
  setText("websockets", fmtNum(s.websockets));
  setText("longpolls", fmtNum(s.longpolls));
  const fresh = s.topics_fresh;
  setText("channels", !s.topics_available ? "n/a" : fresh ? fmtNum(s.channels) : "…");
  setText("topics", !s.topics_available ? "n/a topics" : fresh ? plural(s.topics, "topic") : "… topics");
  if (!fresh) {
    setText("presences", "…");
  } else if (s.presence) {
    setText("presences", fmtNum(s.presence.presences));
    setText("presence-sub", "on " + plural(s.presence.topics, "topic"));
  } else {
    setText("presences", "off");
    setText("presence-sub", "no Presence given");
  }
  setText("rate-in", fmtNum(s.sample.in));
  setText("rate-out", fmtNum(s.sample.out));
  setText("rate-bcast", fmtNum(s.sample.bcast));
  setText("rss", fmtBytes(s.sample.rss));
  setText("heap", fmtBytes(s.heap_bytes));
  setText("goroutines", fmtNum(s.goroutines));
  setText("uptime", fmtDur(s.uptime_s));

  const noTopics = !s.topics_available ? "this PubSub cannot list its topics" : fresh ? "no joined channels" : "sampling…";
  rows("top-subs", s.top_by_subscribers.map(t => [
    { v: t.topic, title: t.topic }, { v: fmtNum(t.channels), r: true }, { v: fmtNum(t.rate), r: true }]), noTopics);
  rows("top-rate", s.top_by_rate.map(t => [
    { v: t.topic, title: t.topic }, { v: fmtNum(t.rate), r: true }, { v: fmtNum(t.channels), r: true }]),
    s.topics_available ? "no broadcasts in the last interval" : noTopics);
  const f = s.refusals;
  const ref = [
    ["brake refusals (429 before upgrade)", f.brake], ["slow-consumer closes", s.slow_consumers],
    ["over max connections", f.max_conns], ["over per-IP connections", f.per_ip],
    ["over per-IP connect rate", f.rate_limited], ["join deadline closes", f.join_timeouts],
    ["protocol errors", f.protocol_errors], ["paused too long", f.pause_timeouts],
    ["TLS handshakes failed", f.tls_failed], ["TLS handshakes over the cap", f.tls_refused],
  ].map(([k, v]) => Object.assign([{ v: k }, { v: fmtNum(v), r: true }], { nonzero: v > 0 }));
  rows("refusals", ref, "");
  const rej = Object.entries(s.rejected || {}).sort((a, b) => b[1] - a[1])
    .map(([k, v]) => Object.assign([{ v: k, title: k }, { v: fmtNum(v), r: true }], { nonzero: v > 0 }));
  rows("rejected", rej, "none");
  drawCharts();
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// chart draws series ([{values, color}]) over the history's time span.
function chart(id, series, fmt) {
  const cv = $(id);
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth, h = cv.clientHeight;
  if (w === 0 || h === 0) return;
  if (cv.width !== Math.round(w * dpr) || cv.height !== Math.round(h * dpr)) {
    cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr);
  }
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const hist = state.history;
  const left = 52, right = 6, top = 6, bottom = 16;
  const pw = w - left - right, ph = h - top - bottom;
  // The axis starts at the oldest sample and spans at least a minute, at
  // most the ring's length: a young server's line grows from the left.
  const last = hist.length ? hist[hist.length - 1].t : Date.now();
  const full = state.keep * state.interval;
  const tmin = hist.length ? Math.max(hist[0].t, last - full) : last;
  const span = Math.min(Math.max(last - tmin, 60000), full);
  let vmax = 0;
  for (const s of series) for (const v of s.values) if (v > vmax) vmax = v;
  vmax = niceMax(vmax);
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = "#6b7280"; g.strokeStyle = "#e3e6eb"; g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (let i = 0; i <= 2; i++) {
    const v = vmax * i / 2, y = top + ph - ph * i / 2;
    g.beginPath(); g.moveTo(left, Math.round(y) + 0.5); g.lineTo(left + pw, Math.round(y) + 0.5); g.stroke();
    g.fillText(fmt(v), left - 4, y);
  }
  g.textBaseline = "top";
  const clock = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  g.textAlign = "left"; g.fillText(clock(tmin), left, top + ph + 3);
  g.textAlign = "right"; g.fillText(clock(tmin + span), left + pw, top + ph + 3);
  const x = (t) => left + pw * (t - tmin) / span;
  const y = (v) => top + ph - ph * Math.min(v, vmax) / vmax;
  for (const s of series) {
    g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
    let started = false;
    for (let i = 0; i < hist.length; i++) {
      if (hist[i].t < tmin) continue;
      const px = x(hist[i].t), py = y(s.values[i]);
      if (!started) { g.moveTo(px, py); started = true; } else g.lineTo(px, py);
    }
    g.stroke();
  }
}

function drawCharts() {
  const h = state.history;
  const col = (k) => h.map(p => p[k]);
  chart("chart-msgs", [{ values: col("in"), color: "#2563eb" }, { values: col("out"), color: "#ea580c" }], fmtNum);
  chart("chart-sockets", [{ values: col("sockets"), color: "#2563eb" }], fmtNum);
  chart("chart-rss", [{ values: col("rss"), color: "#7c3aed" }], fmtBytes);
  chart("chart-gc", [{ values: col("gc_ms"), color: "#0f766e" }], (v) => v.toFixed(v < 1 ? 2 : 1));
}

// full takes a snapshot with history (the stream's first event, a poll).
function full(s) {
  state.interval = s.interval_ms || 1000;
  state.keep = Math.max(state.keep, (s.history || []).length);
  state.history = s.history || [];
  delete s.history;
  state.snap = s;
  render();
}

// sample appends one live sample.
function sample(s) {
  state.snap = s;
  const last = state.history[state.history.length - 1];
  if (!last || s.sample.t > last.t) {
    state.history.push(s.sample);
    if (state.history.length > state.keep) state.history.splice(0, state.history.length - state.keep);
  }
  render();
}

function poll() {
  fetch("api/snapshot", { cache: "no-store" })
    .then(r => { if (!r.ok) throw new Error(r.status); return r.json(); })
    .then(s => { full(s); setStatus("polling", "live (polling)"); })
    .catch(() => setStatus("down", "server unreachable"))
    .finally(() => { state.pollTimer = setTimeout(poll, state.interval); });
}

function stream() {
  const es = new EventSource("api/stream");
  state.es = es;
  es.addEventListener("snapshot", (e) => { full(JSON.parse(e.data)); setStatus("live", "live"); });
  es.addEventListener("sample", (e) => { sample(JSON.parse(e.data)); setStatus("live", "live"); });
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // Refused (all streams taken, or an error status): poll instead.
      if (state.pollTimer == null) poll();
    } else {
      setStatus("down", "reconnecting…");
    }
  };
}

window.addEventListener("resize", drawCharts);
window.addEventListener("DOMContentLoaded", () => {
  if (typeof EventSource === "function") stream(); else poll();
});
