// Package sys holds phxbench's process-level helpers: raising and checking
// the open-files limit, parsing the -src source addresses, and telling
// whether stderr is a terminal. It depends on nothing else in phxbench.
package sys
