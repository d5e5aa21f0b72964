// Package hist is phxbench's latency histogram: HDR-style log-linear
// buckets (bounded relative error), merging, quantiles, a sparse JSON form
// that worker processes send to the parent, and the headline Summary
// (p50…max in µs) printed and written to the result. It depends on nothing
// else in phxbench.
package hist
