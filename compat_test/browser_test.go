package compat_test

// Real-browser tests of phxd's demo page (GET /): headless Chromium from
// Debian's chromium package, driven by the npm package playwright-core
// (browser/*.js), runs the page with the real phoenix.js. The problem phxgo
// solves is a browser problem (the WebSocket API hides why an upgrade
// failed), so it is proven here in a browser: what the page's panel shows,
// what the client did, and how many upgrade attempts phxd saw (its JSON
// log: "connected" and "connect rejected" lines).
//
// Each scenario is a parallel subtest with its own phxd and its own browser;
// at most browserSlots browsers run at once. Screenshots of every scenario go
// to artifacts/browser/<subtest>-<state>.png (git-ignored) for a person to
// look at.
//
// Nothing is skipped: without /usr/bin/chromium or playwright-core the test
// fails and says what to install.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	chromiumPath = "/usr/bin/chromium"
	// browserSlots bounds the browsers running at once (the machine has 2
	// cores; most of a scenario is waiting).
	browserSlots = 3
	// browserScenarioTimeout bounds one node+browser run (run.js stops
	// itself; the Go side then sends SIGTERM, then SIGKILL). Each wait
	// inside is bounded too (harness.js WAIT_MS); only a failure waits long.
	browserScenarioTimeout = 180 * time.Second
	// attemptWait bounds the wait for phxd to log the connect attempts a
	// page observed (its log is read through a pipe).
	attemptWait = 30 * time.Second
	// attemptQuiet is how long no further attempt must be logged after
	// those, to catch extra ones.
	attemptQuiet = 300 * time.Millisecond
)

var browserSem = make(chan struct{}, browserSlots)

// browserOutput is what browser/run.js prints.
type browserOutput struct {
	Scenario    string          `json:"scenario"`
	Result      json.RawMessage `json:"result"`
	Error       string          `json:"error"`
	Partial     json.RawMessage `json:"partial"`
	Screenshots []string        `json:"screenshots"`
	Console     []string        `json:"console"`
}

// pageSnap is one page's observations (harness.js snapshot).
type pageSnap struct {
	State         string            `json:"state"`
	Transport     string            `json:"transport"`
	Action        string            `json:"action"`
	Opens         []pageOpen        `json:"opens"`
	Closes        []pageClose       `json:"closes"`
	ConnectErrors []json.RawMessage `json:"connectErrors"`
	Errors        int               `json:"errors"`
	Retries       []pageRetry       `json:"retries"`
	Joins         []pageJoin        `json:"joins"`
	Messages      []pageMessage     `json:"messages"`
	Online        []pagePresence    `json:"online"`
	Log           []string          `json:"log"`
	Panel         map[string]string `json:"panel"`
}

type pageOpen struct {
	T         int    `json:"t"`
	Transport string `json:"transport"`
}

type pageClose struct {
	T            int             `json:"t"`
	Code         int             `json:"code"`
	Reason       string          `json:"reason"`
	WasClean     bool            `json:"wasClean"`
	Transport    string          `json:"transport"`
	ConnectError json.RawMessage `json:"connectError"`
}

type pageRetry struct {
	T  int `json:"t"`
	MS int `json:"ms"`
}

type pageJoin struct {
	Topic  string `json:"topic"`
	Status string `json:"status"`
}

type pageMessage struct {
	User string `json:"user"`
	Body string `json:"body"`
}

type pagePresence struct {
	User        string  `json:"user"`
	Connections int     `json:"connections"`
	Status      *string `json:"status"`
}

func (p pageSnap) String() string {
	return fmt.Sprintf("state=%s transport=%s panel=%q\n\tlog:\n\t\t%s", p.State, p.Transport, p.Panel,
		strings.Join(p.Log, "\n\t\t"))
}

// upgradeAttempt is a "connected" or "connect rejected" line of phxd's log.
type upgradeAttempt struct {
	Msg       string `json:"msg"`
	Mode      string `json:"mode"` // frame, brake, http (rejections)
	Transport string `json:"transport"`
	Code      int    `json:"code"`
	Reason    string `json:"reason"`
}

func (a upgradeAttempt) String() string {
	if a.Msg == "connected" {
		return "connected/" + a.Transport
	}
	return fmt.Sprintf("rejected/%s/%d/%s", a.Mode, a.Code, a.Reason)
}

// attempts returns phxd's connect attempts so far. transport "" means any;
// "websocket" also counts rejections, which carry no transport field for
// WebSocket.
func (s *phxd) attempts(transport string) []upgradeAttempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []upgradeAttempt
	for _, l := range s.lines {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var a upgradeAttempt
		if json.Unmarshal([]byte(l), &a) != nil || (a.Msg != "connected" && a.Msg != "connect rejected") {
			continue
		}
		tr := a.Transport
		if tr == "" {
			tr = "websocket"
		}
		if transport == "" || tr == transport {
			out = append(out, a)
		}
	}
	return out
}

// attemptsAfter waits until phxd has logged at least n connect attempts
// (transport as for attempts), woken by each new log line and bounded by
// attemptWait, then until no new attempt has come for attemptQuiet, so that
// extra attempts show too. Reaching n never depends on the machine's speed;
// the quiet period only catches attempts beyond what the page observed.
func (s *phxd) attemptsAfter(t *testing.T, transport string, n int) []upgradeAttempt {
	t.Helper()
	deadline := time.NewTimer(attemptWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cur := s.attempts(transport); len(cur) >= n {
			break
		}
		select {
		case <-changed:
		case <-s.exited:
			t.Fatalf("phxd exited while waiting for %d connect attempts: %v", n, s.attempts(transport))
		case <-deadline.C:
			t.Fatalf("phxd logged %d connect attempts within %v, want at least %d: %v",
				len(s.attempts(transport)), attemptWait, n, s.attempts(transport))
		}
	}
	last := s.attempts(transport)
	quiet := time.NewTimer(attemptQuiet)
	defer quiet.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
			if cur := s.attempts(transport); len(cur) != len(last) {
				last = cur
				quiet.Reset(attemptQuiet)
			}
		case <-quiet.C:
			return last
		case <-deadline.C:
			return last
		}
	}
}

func countAttempts(as []upgradeAttempt, keep func(upgradeAttempt) bool) int {
	n := 0
	for _, a := range as {
		if keep(a) {
			n++
		}
	}
	return n
}

func isFrame(a upgradeAttempt) bool     { return a.Msg == "connect rejected" && a.Mode == "frame" }
func isBrake(a upgradeAttempt) bool     { return a.Msg == "connect rejected" && a.Mode == "brake" }
func isConnected(a upgradeAttempt) bool { return a.Msg == "connected" }

// checkBrowserSetup fails the test when the browser or playwright-core is
// missing, saying how to install them.
func checkBrowserSetup(t *testing.T) {
	t.Helper()
	if st, err := os.Stat(chromiumPath); err != nil || st.IsDir() {
		t.Fatalf("%s is missing: the browser tests need Debian's chromium package "+
			"(apt-get update && apt-get install -y chromium; make test installs it)", chromiumPath)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("node_modules/playwright-core is missing: run `npm ci` in %s", jsDir)
	}
}

// phoenixMJS is the phoenix.js the demo page gets (-phoenix-js).
func phoenixMJS() string {
	return filepath.Join(jsDir, "node_modules", "phoenix", "priv", "static", "phoenix.mjs")
}

// startWebServer starts a phxd for one browser scenario.
func startWebServer(t *testing.T, flags ...string) *phxd {
	t.Helper()
	return startServer(t, append([]string{"-phoenix-js", phoenixMJS()}, flags...)...)
}

// runBrowser runs one scenario of browser/scenarios.js against srv in its own
// headless Chromium and decodes its result into a T.
func runBrowser[T any](t *testing.T, srv *phxd, scenario string, args any) T {
	t.Helper()
	browserSem <- struct{}{}
	defer func() { <-browserSem }()

	argJSON, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	shots := filepath.Join(artifact, "browser")
	ctx, cancel := context.WithTimeout(context.Background(), browserScenarioTimeout+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "browser/run.js", scenario)
	cmd.Dir = jsDir
	dieWithParent(cmd)
	// SIGTERM first: playwright then closes its browser.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(),
		"PHX_BASE="+srv.baseURL(),
		"PHX_ARGS="+string(argJSON),
		"PHX_SHOTS="+shots,
		"PHX_SHOT_PREFIX="+path.Base(t.Name()),
		"PHX_CHROMIUM="+chromiumPath,
		fmt.Sprintf("PHX_TIMEOUT_MS=%d", browserScenarioTimeout.Milliseconds()),
		// Playwright makes the browser's fresh --user-data-dir with mkdtemp
		// here; the test removes it.
		"TMPDIR="+t.TempDir(),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()

	var out browserOutput
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &out); err != nil {
		t.Fatalf("browser %s: %v; no JSON result (%v)\nstdout: %s\nstderr: %s",
			scenario, runErr, err, stdout.String(), stderr.String())
	}
	t.Logf("browser %s ran %.1fs; screenshots: %s", scenario, time.Since(start).Seconds(), strings.Join(out.Screenshots, " "))
	if len(out.Console) > 0 {
		t.Logf("page console:\n\t%s", strings.Join(out.Console, "\n\t"))
	}
	if out.Error != "" {
		t.Fatalf("browser %s failed: %s\npartial observations: %s\nstderr: %s",
			scenario, out.Error, out.Partial, stderr.String())
	}
	var res T
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatalf("browser %s: decode result: %v\n%s", scenario, err, out.Result)
	}
	return res
}

func (p pageSnap) sees(user, body string) bool {
	for _, m := range p.Messages {
		if m.User == user && m.Body == body {
			return true
		}
	}
	return false
}

func (p pageSnap) onlineUser(user string) *pagePresence {
	for i := range p.Online {
		if p.Online[i].User == user {
			return &p.Online[i]
		}
	}
	return nil
}

// checkStoppedAfterReject checks a page that was refused once with code and
// reason and, following the recommended pattern, stopped reconnecting.
func checkStoppedAfterReject(t *testing.T, p pageSnap, code int, reason, payload string) {
	t.Helper()
	if len(p.Opens) != 1 || len(p.Closes) != 1 {
		t.Fatalf("want one open and one close, got %d opens and %d closes: %s", len(p.Opens), len(p.Closes), p)
	}
	c := p.Closes[0]
	if c.Code != code || c.Reason != reason || !c.WasClean {
		t.Errorf("close: got %d %q clean=%v, want %d %q clean=true", c.Code, c.Reason, c.WasClean, code, reason)
	}
	if !jsonEqual(c.ConnectError, []byte(payload)) {
		t.Errorf("phx_connect_error before the close: got %s, want %s", c.ConnectError, payload)
	}
	if len(p.ConnectErrors) != 1 {
		t.Errorf("want exactly one phx_connect_error, got %d", len(p.ConnectErrors))
	}
	if got, want := p.Panel["lastClose"], fmt.Sprintf("%d %s", code, reason); got != want {
		t.Errorf("panel last close: %q, want %q", got, want)
	}
	if !jsonEqual([]byte(p.Panel["connectError"]), []byte(payload)) {
		t.Errorf("panel phx_connect_error: %q, want %s", p.Panel["connectError"], payload)
	}
	if !strings.Contains(p.Panel["client"], "stopped reconnecting: "+reason) {
		t.Errorf("panel client action: %q, want it to say it stopped reconnecting: %s", p.Panel["client"], reason)
	}
	if p.State != "closed" {
		t.Errorf("socket state %q, want closed", p.State)
	}
}

func TestBrowser(t *testing.T) {
	t.Parallel()
	checkBrowserSetup(t)

	// Two people chat in one room (two browser contexts): presence on both
	// pages, messages both ways, a status.
	t.Run("chat", func(t *testing.T) {
		t.Parallel()
		srv := startWebServer(t)
		res, bob := runChat(t, srv, "")
		checkAway(t, res, bob)
		as := srv.attemptsAfter(t, "", 2)
		if n := countAttempts(as, isConnected); n != 2 || len(as) != 2 {
			t.Errorf("server: attempts %v, want 2 connected", as)
		}
	})

	// The panel's bad and expired token buttons with the recommended
	// pattern: the reason is shown, and the client stops: exactly one
	// upgrade over ~3 s.
	for _, tc := range []struct{ name, button, reason string }{
		{"bad_token", "#connect-bad", "unauthorized"},
		{"expired_token", "#connect-expired", "token_expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startWebServer(t)
			res := runBrowser[struct{ Page pageSnap }](t, srv, "rejected",
				map[string]any{"button": tc.button, "observeMs": 3000})
			checkStoppedAfterReject(t, res.Page, 4401, tc.reason, `{"reason":"`+tc.reason+`"}`)
			as := srv.attemptsAfter(t, "", 1)
			if len(as) != 1 || !isFrame(as[0]) || as[0].Code != 4401 || as[0].Reason != tc.reason {
				t.Errorf("server: attempts %v, want exactly one: rejected/frame/4401/%s", as, tc.reason)
			}
		})
	}

	// The "overloaded" token: 4503 try_later with retry_after_ms 5000. The
	// page disconnects and connects again after the advised delay. The brake
	// is off here: with it (default 10 s), the retry advised at 5 s falls
	// inside the brake window and is refused with HTTP 429 before the
	// upgrade, so the page sees only 1006 closes until the window ends.
	t.Run("overloaded", func(t *testing.T) {
		t.Parallel()
		srv := startWebServer(t, "-reject-brake", "-1s")
		res := runBrowser[struct{ First, Waiting, Page pageSnap }](t, srv, "overloaded",
			map[string]any{"retryTimeoutMs": 60000})
		p := res.Page
		const payload = `{"reason":"try_later","retry_after_ms":5000}`
		if len(p.Closes) < 2 || len(p.Opens) < 2 {
			t.Fatalf("want two attempts (open, close 4503) on the page, got %d opens, %d closes: %s", len(p.Opens), len(p.Closes), p)
		}
		for i, c := range p.Closes[:2] {
			if c.Code != 4503 || c.Reason != "try_later" || !jsonEqual(c.ConnectError, []byte(payload)) {
				t.Errorf("close %d: %d %q after %s, want 4503 try_later after %s", i+1, c.Code, c.Reason, c.ConnectError, payload)
			}
		}
		if len(p.Retries) == 0 || p.Retries[0].MS != 5000 {
			t.Errorf("the page scheduled retries %+v, want one after retry_after_ms 5000", p.Retries)
		}
		if w := res.Waiting; len(w.Opens) != 1 || !strings.Contains(w.Panel["socketState"], "retrying in") {
			t.Errorf("during the countdown after the first close: %d opens, state %q; want 1 open and a retry countdown", len(w.Opens), w.Panel["socketState"])
		}
		// Ordering: the second attempt comes from the page's timer (a timer
		// never fires early), not from phoenix.js's 10 ms reconnect.
		if gap := p.Opens[1].T - p.Closes[0].T; gap < 4900 {
			t.Errorf("second attempt %d ms after the first close, want it after the advised 5000 ms", gap)
		}
		if !jsonEqual([]byte(res.First.Panel["connectError"]), []byte(payload)) || res.First.Panel["lastClose"] != "4503 try_later" {
			t.Errorf("panel after the first close: %q", res.First.Panel)
		}
		as := srv.attemptsAfter(t, "", 2)
		if len(as) != 2 || !isFrame(as[0]) || !isFrame(as[1]) || as[1].Code != 4503 {
			t.Errorf("server: attempts %v, want exactly two rejected/frame/4503/try_later", as)
		}
	})

	// The brake: a plain phoenix.js socket (?pattern=off) with a bad token.
	// One upgrade with the reason, then only refusals before the upgrade on
	// phoenix.js's own backoff (10 ms … 5 s): about a dozen in 10 s. The
	// brake window is 20 s so that the 10 s observed stay inside it.
	t.Run("brake", func(t *testing.T) {
		t.Parallel()
		srv := startWebServer(t, "-reject-brake", "20s")
		res := runBrowser[struct{ Page pageSnap }](t, srv, "rejected",
			map[string]any{"button": "#connect-bad", "observeMs": 10000, "pattern": false})
		p := res.Page
		if len(p.Opens) != 1 || len(p.ConnectErrors) != 1 || len(p.Closes) == 0 || p.Closes[0].Code != 4401 {
			t.Fatalf("want one open, one phx_connect_error and a first close 4401: %s", p)
		}
		for _, c := range p.Closes[1:] {
			if c.Code != 1006 || c.WasClean {
				t.Errorf("after the first rejection: close %d %q clean=%v, want 1006 (failed upgrade): %s", c.Code, c.Reason, c.WasClean, p)
				break
			}
		}
		if !strings.Contains(p.Panel["client"], "plain phoenix.js") {
			t.Errorf("panel client action %q, want the plain phoenix.js note", p.Panel["client"])
		}
		// Each close the page saw is one attempt phxd logged (the last one
		// the page made may have come after the observation).
		as := srv.attemptsAfter(t, "", len(p.Closes))
		frames, brakes := countAttempts(as, isFrame), countAttempts(as, isBrake)
		t.Logf("server: %d attempts in ~10 s: %d frame, %d brake", len(as), frames, brakes)
		if len(as) == 0 || !isFrame(as[0]) || frames != 1 || brakes != len(as)-1 {
			t.Errorf("server: attempts %v, want one rejected/frame then only rejected/brake", as)
		}
		if len(as) > 25 || brakes < 4 {
			t.Errorf("server: %d attempts in ~10 s, want about a dozen (phoenix.js's backoff), at most 25", len(as))
		}
		if got := len(p.Closes) - 1; got != brakes && got != brakes-1 {
			t.Errorf("the page saw %d failed upgrades, the server braked %d", got, brakes)
		}
	})

	// The join deadline: a good token and no room; the server closes the
	// socket with phx_connect_error join_timeout and 4408.
	t.Run("join_deadline", func(t *testing.T) {
		t.Parallel()
		srv := startWebServer(t, "-join-deadline", "1s")
		res := runBrowser[struct{ Page pageSnap }](t, srv, "deadline",
			map[string]any{"user": uniq("idle"), "observeMs": 1500})
		checkStoppedAfterReject(t, res.Page, 4408, "join_timeout", `{"reason":"join_timeout"}`)
		as := srv.attemptsAfter(t, "", 1)
		if len(as) != 1 || !isConnected(as[0]) {
			t.Errorf("server: attempts %v, want one connected (the page stops after 4408)", as)
		}
	})

	// LongPoll: a page on LongPoll (?transport=longpoll) chats with a page
	// on WebSocket.
	t.Run("longpoll", func(t *testing.T) {
		t.Parallel()
		srv := startWebServer(t)
		lp, ws, room := uniq("lp"), uniq("ws"), uniq("lproom")
		res := runBrowser[struct{ Longpoll, Websocket pageSnap }](t, srv, "longpoll",
			map[string]string{"lp": lp, "ws": ws, "room": room})
		if p := res.Longpoll; len(p.Opens) != 1 || p.Opens[0].Transport != "LongPoll" || p.State != "open" {
			t.Errorf("longpoll page: want one open over LongPoll, still open: %s", p)
		}
		for name, p := range map[string]pageSnap{"longpoll": res.Longpoll, "websocket": res.Websocket} {
			if p.onlineUser(lp) == nil || p.onlineUser(ws) == nil {
				t.Errorf("%s page: online %+v, want %s and %s", name, p.Online, lp, ws)
			}
		}
		if !res.Websocket.sees(lp, "sent over longpoll") || !res.Longpoll.sees(ws, "sent over websocket") {
			t.Errorf("messages: longpoll page saw %+v, websocket page saw %+v", res.Longpoll.Messages, res.Websocket.Messages)
		}
		if as := srv.attemptsAfter(t, "longpoll", 1); countAttempts(as, isConnected) != 1 || len(as) != 1 {
			t.Errorf("server: longpoll attempts %v, want one connected", as)
		}
	})

	// A refused LongPoll connect (?transport=longpoll, expired token): no
	// close code travels over LongPoll (phoenix.js reports 1008 "forbidden"),
	// but the phx_connect_error message does; the page stops on its reason:
	// one attempt over ~3 s.
	t.Run("longpoll_rejected", func(t *testing.T) {
		t.Parallel()
		srv := startWebServer(t)
		res := runBrowser[struct{ Page pageSnap }](t, srv, "rejected",
			map[string]any{"button": "#connect-expired", "observeMs": 3000, "query": "transport=longpoll"})
		p := res.Page
		const payload = `{"reason":"token_expired"}`
		if len(p.Opens) != 0 || len(p.Closes) != 1 {
			t.Fatalf("want no open and one close, got %d opens and %d closes: %s", len(p.Opens), len(p.Closes), p)
		}
		if c := p.Closes[0]; c.Code != 1008 || c.Reason != "forbidden" || c.Transport != "LongPoll" || !jsonEqual(c.ConnectError, []byte(payload)) {
			t.Errorf("close: %+v, want LongPoll's 1008 forbidden after phx_connect_error %s", c, payload)
		}
		if !jsonEqual([]byte(p.Panel["connectError"]), []byte(payload)) || !strings.Contains(p.Panel["client"], "stopped reconnecting: token_expired") {
			t.Errorf("panel: %q", p.Panel)
		}
		as := srv.attemptsAfter(t, "", 1)
		if len(as) != 1 || !isFrame(as[0]) || as[0].Transport != "longpoll" || as[0].Reason != "token_expired" {
			t.Errorf("server: attempts %v, want exactly one longpoll rejected/frame/4401/token_expired", as)
		}
	})

	// LongPoll fallback: the page's WebSocket upgrades are refused (a
	// simulated proxy: ?ws=broken sends them to a path that answers 404);
	// with longPollFallbackMs 500 phoenix.js falls back to LongPoll, joins,
	// chats and sets a status.
	t.Run("longpoll_fallback", func(t *testing.T) {
		t.Parallel()
		srv := startWebServer(t)
		user, room := uniq("fb"), uniq("fbroom")
		res := runBrowser[struct{ Page pageSnap }](t, srv, "fallback",
			map[string]any{"user": user, "room": room, "fallbackMs": 500})
		p := res.Page
		if len(p.Opens) != 1 || p.Opens[0].Transport != "LongPoll" || p.Transport != "LongPoll" || p.State != "open" {
			t.Errorf("want one open, over LongPoll after the fallback: %s", p)
		}
		if !p.sees(user, "after the fallback") {
			t.Errorf("own message not seen: %+v", p.Messages)
		}
		if as := srv.attemptsAfter(t, "", 1); countAttempts(as, isConnected) != 1 || as[0].Transport != "longpoll" {
			t.Errorf("server: attempts %v, want one connected over longpoll", as)
		}
	})

	// Without phoenix.js installed the page still loads and says how to
	// install it; phxd warns at startup.
	t.Run("phoenix_js_missing", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, "-phoenix-js", filepath.Join(t.TempDir(), "no", "phoenix.mjs"))
		res := runBrowser[struct {
			LoadError       string `json:"loadError"`
			Notice          string `json:"notice"`
			ConnectDisabled bool   `json:"connectDisabled"`
		}](t, srv, "missing", nil)
		if res.LoadError == "" || !strings.Contains(res.Notice, "cd compat_test && npm ci") || !res.ConnectDisabled {
			t.Errorf("page without phoenix.js: %+v, want a load error, a notice with the install command and Connect disabled", res)
		}
		found := false
		srv.mu.Lock()
		for _, e := range srv.entries {
			if e.Level == "WARN" && strings.Contains(e.Msg, "phoenix.js not found") {
				found = true
			}
		}
		srv.mu.Unlock()
		if !found {
			t.Errorf("phxd logged no startup warning about the missing phoenix.js:\n%s", srv.tail(10))
		}
	})
}
