// Package floor measures the syscall floor of phxd's request paths: what a
// bare server that only makes the system calls a path needs costs in CPU,
// under the same arrival pattern and message sizes as the scenario it is
// compared with. The bare server is a child process (phxbench
// -floor-server), so its CPU is read apart from the client's; the client
// side runs in the calling process. It depends on hist (latencies) and sys
// (file limits).
package floor
