package attack

import (
	"context"
	"fmt"
	"slices"
)

// Attack is one entry of All.
type Attack struct {
	// Name is how -attack selects it.
	Name string
	// Hole is the hole number ("1", "2a", …).
	Hole string
	// Net is the third octet of the attack's source addresses when all
	// attacks run at once (127.0.Net.x): distinct per attack.
	Net int
	// What is a one-line description.
	What string
	// Run runs it.
	Run func(context.Context, Target, Options) Result
}

// FreshNet is the source network (127.0.FreshNet.x) of fresh-client probes.
const FreshNet = 99

// All lists the attacks in the order.
var All = []Attack{
	{"ping", "1", 11, "125-byte pings nonstop on sockets that never read", PingFlood},
	{"status", "2a", 12, "set_status flood on joined rooms, replies never read", StatusFlood},
	{"slow", "2b", 13, "`slow` (5 s timer) flood on joined rooms, replies never read", SlowFlood},
	{"trickle", "3", 14, "plain-HTTP POSTs with a body trickling at 1 byte/s", Trickle},
	{"topics", "4", 15, "joins with 1 MB topics, 100 per socket on 5 sockets", BigTopics},
	{"broadcast", "5", 16, "/api/broadcast without key, cross-site text/plain, phx_* events", Broadcast},
	{"origin", "6", 17, "WebSocket and LongPoll with Origin and Host both evil.example", Origin},
	{"brake", "7", 18, "rejected connects retried with junk &x=N", Brake},
	{"longpoll", "8", 19, "LongPoll session flood (50k), then 8 MiB POSTs", LongPoll},
	{"badframes", "9", 20, "unmatched joins with 4 KB topics and non-JSON frames", BadFrames},
	{"slowloris", "10", 21, "header slowloris from one address", Slowloris},
}

// Parts are attacks that run as part of one in All, alone: LongPoll's two
// halves, each for the whole duration.
var Parts = []Attack{
	{"longpoll-sessions", "8", 19, "LongPoll session flood (400k)", LongPollSessions},
	{"longpoll-posts", "8", 19, "LongPoll 8 MiB POSTs, 40 at once", LongPollPosts},
}

// ByName returns the attack called name, from All or Parts.
func ByName(name string) (Attack, error) {
	for _, a := range slices.Concat(All, Parts) {
		if a.Name == name {
			return a, nil
		}
	}
	return Attack{}, fmt.Errorf("attack: unknown attack %q", name)
}
