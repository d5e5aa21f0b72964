// Package sys holds phxbench's process-level helpers: raising and checking
// the open-files limit, parsing the -src source addresses, telling whether
// stderr is a terminal, starting and stopping phxbench's own child
// processes, and the listening start of its bare epoll servers. It depends
// on nothing else in phxbench.
package sys
