// Package report presents a run: the text summary, the self-contained HTML
// report with its SVG charts (Chart is also used by the suite's growth
// plot), and the live progress line drawn during a run. It depends on
// engine (the Result and live counters), scenario (the planned duration)
// and hist.
package report
