// Package suite is the performance suite (phxbench -suite): it runs the
// built-in scenarios as separate phxbench commands against a fresh phxd per
// run, takes medians over rounds, and rewrites BENCHMARKS.md's tables and
// the growth SVG. With -cluster it is the cluster suite (cluster*.go):
// phxd nodes on a private redis-server against one node, the time a killed
// node's presences take to leave, and RSS per idle socket with -redis. It
// depends on engine (results and exit codes), report (number formats and
// charts), procstat (server samples) and sys.
package suite
