package attack

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// FreshTimeout is how long a fresh client waits to be served.
const FreshTimeout = 5 * time.Second

// Fresh is the outcome of one fresh-client probe.
type Fresh struct {
	// Served reports that the client connected and joined a room.
	Served bool `json:"served"`
	// Detail says what happened when not served ("dial: …", "upgrade 503",
	// "join: …").
	Detail string `json:"detail,omitempty"`
	// Took is the time from dial to the join reply.
	Took time.Duration `json:"took_ns"`
}

var freshSeq atomic.Int64

// FreshClient is an honest newcomer: from t's i-th source address it
// connects over WebSocket (vsn 2.0.0, a user token of its own), joins
// room:soak_fresh and waits up to FreshTimeout for the ok reply. Attacks
// never use t.Net's addresses for the prober, so per-address limits do not
// mistake it for an attacker.
func FreshClient(ctx context.Context, t Target, i int) Fresh {
	ctx, cancel := context.WithTimeout(ctx, FreshTimeout)
	defer cancel()
	start := time.Now()
	user := "soak_fresh" + strconv.FormatInt(freshSeq.Add(1), 10)
	c, status, err := dialWS(ctx, t, i, upgrade{Query: "vsn=2.0.0&token=user:" + user}, nil)
	switch {
	case err != nil:
		return Fresh{Detail: "dial: " + err.Error(), Took: time.Since(start)}
	case c == nil:
		return Fresh{Detail: fmt.Sprintf("upgrade answered %d", status), Took: time.Since(start)}
	}
	defer c.Close()
	stop := closeOnDone(ctx, c)
	defer stop()
	st, err := c.join("room:soak_fresh", FreshTimeout)
	took := time.Since(start)
	switch {
	case err != nil:
		return Fresh{Detail: "join: " + err.Error(), Took: took}
	case st != "ok":
		return Fresh{Detail: "join answered " + st, Took: took}
	}
	return Fresh{Served: true, Took: took}
}
