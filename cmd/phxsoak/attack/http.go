package attack

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// holdSpec describes sockets that send a request head (and maybe part of a
// body) and then trickle one byte per interval, holding the connection.
type holdSpec struct {
	sockets int
	src     func(i int) int // source address index of socket i
	head    string          // sent at once
	drip    string          // one byte of it per interval, cycled
	every   time.Duration
}

// hold opens spec.sockets connections and trickles on each until ctx ends
// or the server ends it; a socket the server ends is replaced after a
// backoff (100 ms, doubling up to 5 s while the server keeps ending them at
// once), so the pressure lasts. It records how connections ended and, when the
// server answered before hanging up, the HTTP status.
func hold(ctx context.Context, t Target, rec *recorder, what string, spec holdSpec) {
	var wg sync.WaitGroup
	for i := range spec.sockets {
		wg.Go(func() {
			// spread the connects over the first second
			sleepCtx(ctx, time.Duration(i)*time.Second/time.Duration(spec.sockets))
			b := backoff{min: 100 * time.Millisecond, max: 5 * time.Second}
			for ctx.Err() == nil {
				start := time.Now()
				holdOnce(ctx, t, rec, what, spec, i)
				b.wait(ctx, start, true)
			}
		})
	}
	wg.Wait()
}

func holdOnce(ctx context.Context, t Target, rec *recorder, what string, spec holdSpec, i int) {
	c, err := dial(ctx, t, spec.src(i), rec)
	if err != nil {
		return
	}
	defer c.Close()
	stop := closeOnDone(ctx, c)
	defer stop()
	if _, err := io.WriteString(c, spec.head); err != nil {
		rec.end(endOf(err))
		return
	}
	rec.wrote(len(spec.head))
	// a reader notices the server's answer or hang-up at once
	answered := make(chan error, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			rec.http(what, resp.StatusCode)
			_ = resp.Body.Close()
		}
		answered <- err
	}()
	tick := time.NewTicker(spec.every)
	defer tick.Stop()
	for k := 0; ; k++ {
		select {
		case <-ctx.Done():
			rec.end("client")
			_ = c.Close()
			<-answered
			return
		case err := <-answered:
			if err == nil {
				rec.end("answered")
			} else {
				rec.end(endOf(err))
			}
			return
		case <-tick.C:
			if _, err := c.Write([]byte{spec.drip[k%len(spec.drip)]}); err != nil {
				rec.end(endOf(err))
				_ = c.Close()
				<-answered
				return
			}
			rec.bytes.Add(1)
		}
	}
}

// Trickle (hole 3) opens plain-HTTP POSTs to /api/broadcast (1,000 by
// default, over 250 source addresses) announcing a 1 MB body and sending
// one byte of it per second: unfixed, each holds a connection and a
// goroutine forever, outside the connection limit.
func Trickle(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("trickle")
	head := "POST /api/broadcast HTTP/1.1\r\nHost: " + t.Addr +
		"\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n"
	if t.APIKey != "" {
		head += "Authorization: Bearer " + t.APIKey + "\r\n"
	}
	head += "\r\n"
	hold(ctx, t, rec, "post", holdSpec{sockets: o.sockets(1000), src: func(i int) int { return i },
		head: head, drip: `{"topic":"room:x","event":"e","payload":{"a":"` + strings.Repeat("x", 64), every: time.Second})
	return rec.result()
}

// Slowloris (hole 10) opens header-slowloris sockets, 1,000 by default,
// all from ONE source address (the attack's first): each sends the start
// of an upgrade request and then one header byte per second. A fresh
// client from another address must still get in (the caller checks).
func Slowloris(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("slowloris")
	head := "GET /socket/websocket?vsn=2.0.0&token=user:soak_loris HTTP/1.1\r\nHost: " + t.Addr + "\r\n"
	hold(ctx, t, rec, "upgrade", holdSpec{sockets: o.sockets(1000), src: func(int) int { return 0 },
		head: head, drip: "X-Slow-Header-" + strings.Repeat("a", 40) + ": b\r\n", every: time.Second})
	return rec.result()
}

// httpClient returns a client whose connections come from t's i-th source
// address and count toward the socket budget.
func httpClient(t Target, i int, rec *recorder, conns int) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx, t, i, rec)
		},
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// do sends one request and records its status under what.
func do(ctx context.Context, cl *http.Client, rec *recorder, what, method, url string, hdr map[string]string, body []byte) (int, []byte) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		panic(fmt.Sprintf("attack: request: %v", err)) // the inputs are ours
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := cl.Do(req)
	rec.wrote(len(body))
	if err != nil {
		if ctx.Err() == nil {
			rec.end(endOf(err))
		}
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rec.http(what, resp.StatusCode)
	return resp.StatusCode, b
}

// Broadcast (hole 5) POSTs to /api/broadcast as a stranger and as a
// cross-site page would, and as the key's owner with refused bodies; at
// most 100 requests a second, 2,000 by default. Expected (fixed, key set):
// noauth 401, xsite (text/plain, no key) 401 or 415, keyed_text 415,
// keyed_phx 400, keyed_ok 202 (a disconnect to an unused socket id, to show
// the owner still gets through).
func Broadcast(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("broadcast")
	cl := httpClient(t, 0, rec, 4)
	defer cl.CloseIdleConnections()
	url := "http://" + t.Addr + "/api/broadcast"
	forged := []byte(`{"topic":"room:lobby","event":"phx_close","payload":{}}`)
	harmless := []byte(`{"topic":"room:soak_nobody","event":"soak_ping","payload":{}}`)
	bearer := "Bearer " + t.APIKey
	kinds := []struct {
		what string
		hdr  map[string]string
		body []byte
	}{
		{"noauth", map[string]string{"Content-Type": "application/json"}, forged},
		{"xsite", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, forged},
		{"keyed_text", map[string]string{"Content-Type": "text/plain", "Authorization": bearer}, harmless},
		{"keyed_phx", map[string]string{"Content-Type": "application/json", "Authorization": bearer}, forged},
		{"keyed_ok", map[string]string{"Content-Type": "application/json", "Authorization": bearer}, harmless},
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for n := int64(0); n < o.count(2000); n++ {
		k := kinds[n%int64(len(kinds))]
		if k.what != "noauth" && k.what != "xsite" && t.APIKey == "" {
			continue
		}
		do(ctx, cl, rec, k.what, http.MethodPost, url, k.hdr, k.body)
		select {
		case <-ctx.Done():
			return rec.result()
		case <-tick.C:
		}
	}
	return rec.result()
}

// Origin (hole 6) connects as a DNS-rebinding page would: Origin and Host
// both evil.example, over WebSocket ("ws") and LongPoll ("lp"), at most 20
// times a second. Expected: never 101 for ws; for lp never a session (the
// answer's JSON status is recorded as "lp_json:<status>").
func Origin(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("origin")
	cl := httpClient(t, 1, rec, 2)
	defer cl.CloseIdleConnections()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := int64(0); n < o.count(2000); n++ {
		rec.sent.Add(1)
		c, status, err := dialWS(ctx, t, 0, upgrade{Query: "vsn=2.0.0&token=user:soak_evil",
			Host: "evil.example", Origin: "http://evil.example"}, rec)
		if err == nil {
			rec.http("ws", status)
			if c != nil {
				_ = c.Close()
			}
		}
		_, body := do(ctx, cl, rec, "lp", http.MethodGet, "http://"+t.Addr+"/socket/longpoll?vsn=2.0.0&token=user:soak_evil",
			map[string]string{"Host": "evil.example", "Origin": "http://evil.example"}, nil)
		if st, ok := lpStatus(body); ok {
			rec.http("lp_json", st)
		}
		select {
		case <-ctx.Done():
			return rec.result()
		case <-tick.C:
		}
	}
	return rec.result()
}

// lpStatus reads the "status" of a LongPoll answer body.
func lpStatus(body []byte) (int, bool) {
	var v struct {
		Status *int `json:"status"`
	}
	if json.Unmarshal(body, &v) != nil || v.Status == nil {
		return 0, false
	}
	return *v.Status, true
}

// Brake (hole 7) retries a rejected connect (token=expired) from one
// address with a junk `&x=N` each time, 20 times a second, at most Count
// (default 5,000) times. Expected: one 101 (the rejection with its
// close frame), then 429 until the brake window (default 10 s) passes.
func Brake(ctx context.Context, t Target, o Options) Result {
	ctx, cancel := o.window(ctx)
	defer cancel()
	rec := newRecorder("brake")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := int64(0); n < o.count(5000) && ctx.Err() == nil; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return rec.result()
			case <-tick.C:
			}
		}
		rec.sent.Add(1)
		c, status, err := dialWS(ctx, t, 0, upgrade{Query: "vsn=2.0.0&token=expired&x=" + strconv.FormatInt(n, 10)}, rec)
		if err != nil {
			sleepCtx(ctx, 10*time.Millisecond)
			continue
		}
		rec.http("upgrade", status)
		if c != nil {
			stop := closeOnDone(ctx, c)
			code, end := c.drain(3*time.Second, 1<<20)
			stop()
			if code != 0 {
				rec.closeCode(code)
			}
			rec.end(end)
			_ = c.Close()
		}
	}
	return rec.result()
}
