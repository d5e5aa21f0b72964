// Package baseline measures the bare-write baseline: the CPU a thread
// spends writing the same frame once to each of N loopback sockets with
// nothing else going on, against which a fan-out's server CPU per delivery
// is reported. The reading side runs in a child process (phxbench -sink).
// It depends on wire (the frame) and sys (file limits).
package baseline
