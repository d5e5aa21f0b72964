// Package attack holds bounded attacks on a phxd server, one per hole of
// the hardening issue (ping flood, inbound floods, trickling HTTP bodies,
// huge topics, the broadcast API, check_origin, the reconnect brake,
// LongPoll floods, log floods, header slowloris), for the phxsoak command
// and for tests.
//
// Every attack runs on loopback against one phxd address and stops by
// itself: it is bounded in time (Options.Duration) and in count (each has
// a default budget of messages or requests), and it returns early when its
// context is cancelled. No attack opens more than Options.MaxSockets
// sockets at once (default 2,000), and all attacks of a process share a
// budget of file descriptors (FDBudget) that keeps the process under its
// 20,000-file limit. Where many sockets are needed they are spread over
// source addresses 127.0.N.x (Target.Net picks N), so that per-address
// limits on the server see many clients.
//
// An attack returns a Result: what it sent, what the server answered (HTTP
// statuses, WebSocket close codes, reply statuses) and how connections
// ended. It does not judge: the caller compares the Result and the server's
// resource figures against the bounds it expects.
package attack
