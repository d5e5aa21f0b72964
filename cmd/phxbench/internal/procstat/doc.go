// Package procstat samples the server process under load (-pid) from
// /proc: RSS, CPU seconds, thread count and, from a Prometheus endpoint,
// goroutines; it also interpolates CPU between samples so a run's phases can
// be charged their share. It depends on nothing else in phxbench.
package procstat
