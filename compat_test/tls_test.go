package compat_test

import (
	"slices"
	"testing"

	"github.com/phxgo/phxgo/netpoll/tlstest"
)

// startTLSServer starts a phxd with -tls-cert/-tls-key on a throwaway
// self-signed certificate made here; the node clients run against it
// trust that certificate (NODE_EXTRA_CA_CERTS) and use wss:// and https://.
func startTLSServer(t *testing.T, flags ...string) *phxd {
	t.Helper()
	certFile, keyFile, _, err := tlstest.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, append([]string{"-tls-cert", certFile, "-tls-key", keyFile}, flags...)...)
	srv.tls = true
	srv.env = []string{"NODE_EXTRA_CA_CERTS=" + certFile}
	return srv
}

// baseURL is phxd's web address (the browser tests' PHX_BASE).
func (s *phxd) baseURL() string {
	if s.tls {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// The demo page served over https, its socket over wss, in Chromium (the
// certificate is accepted by the browser context): the chat scenario.
func TestBrowserHTTPS(t *testing.T) {
	t.Parallel()
	checkBrowserSetup(t)
	srv := startTLSServer(t, "-phoenix-js", phoenixMJS())
	runChat(t, srv, "t")
}

// The main phoenix.js scenarios over wss:// (and LongPoll over https://)
// against phxd serving TLS on the event loop.
func TestWSS(t *testing.T) {
	t.Parallel()
	srv := startTLSServer(t)
	forEachLib(t, func(t *testing.T, lib jsLib) {
		tag := libTag(lib)
		t.Run("connect", func(t *testing.T) {
			checkConnect(t, runJS[connectResult](t, srv, lib, "connect_ok", map[string]any{"user": uniq("tconn" + tag)}))
		})
		t.Run("echo", func(t *testing.T) {
			payloads := []string{`{}`, `{"text":"héllo wörld — ✓ 日本語","n":1.5,"list":[1,"two",null]}`}
			res := runJS[echoResult](t, srv, lib, "echo", map[string]any{
				"user": uniq("techo" + tag), "room": "room:" + uniq("techo"+tag), "payloads": rawJSON(payloads)})
			checkEcho(t, res, payloads)
		})
		t.Run("replies", func(t *testing.T) {
			id := uniq("trepl" + tag)
			checkReplies(t, runJS[repliesResult](t, srv, lib, "replies", userRoom(id)))
		})
		t.Run("broadcast", func(t *testing.T) {
			a, b := uniq("tnma"+tag), uniq("tnmb"+tag)
			res := runJS[newMsgResult](t, srv, lib, "new_msg", map[string]any{"users": []string{a, b}, "room": "room:" + uniq("tnm"+tag)})
			checkNewMsg(t, res, a, b, "a", "b")
		})
		t.Run("presence", func(t *testing.T) {
			a, b, c := uniq("tpla"+tag), uniq("tplb"+tag), uniq("tplc"+tag)
			res := runPresenceJS[struct {
				Steps []struct {
					Step string       `json:"step"`
					OK   bool         `json:"ok"`
					A    []jsPresence `json:"a"`
				} `json:"steps"`
			}](t, srv, lib, "presence_lifecycle", map[string]any{"users": []string{a, b, c}, "room": "room:" + uniq("tpl"+tag)})
			want := map[string][]string{
				"a_joined": {a}, "b_joined": {a, b}, "b_away": {a, b}, "b_second_socket": {a, b},
				"b1_left": {a, b}, "c_crashed_and_rejoined": {a, b, c}, "b2_disconnected": {a, c}, "c_tcp_lost": {a},
			}
			if len(res.Steps) != len(want) {
				t.Fatalf("%d steps recorded, want %d", len(res.Steps), len(want))
			}
			for _, s := range res.Steps {
				w := slices.Sorted(slices.Values(want[s.Step]))
				if got := presenceKeys(s.A); !s.OK || !slices.Equal(got, w) {
					t.Fatalf("step %s: a's list() keys %v (condition met: %v), want %v", s.Step, got, s.OK, w)
				}
			}
		})
		// Node offers AES-256-GCM first, but Go's server picks AES-128-GCM
		// then: the other suites, and TLS 1.2, are forced on the client side.
		for suite, opts := range map[string]string{
			"TLS_AES_256_GCM_SHA384":       "--tls-cipher-list=TLS_AES_256_GCM_SHA384",
			"TLS_CHACHA20_POLY1305_SHA256": "--tls-cipher-list=TLS_CHACHA20_POLY1305_SHA256",
			"TLSv1.2-ECDHE-ECDSA-CHACHA20": "--tls-max-v1.2 --tls-cipher-list=ECDHE-ECDSA-CHACHA20-POLY1305",
			"TLSv1.2-ECDHE-ECDSA-AES256":   "--tls-max-v1.2 --tls-cipher-list=ECDHE-ECDSA-AES256-GCM-SHA384",
		} {
			t.Run(suite, func(t *testing.T) {
				only := &phxd{addr: srv.addr, tls: true,
					env: append(slices.Clone(srv.env), "NODE_OPTIONS="+opts)}
				payloads := []string{`{"suite":"` + suite + `"}`}
				res := runJS[echoResult](t, only, lib, "echo", map[string]any{
					"user": uniq("tsuite" + tag), "room": "room:" + uniq("tsuite"+tag), "payloads": rawJSON(payloads)})
				checkEcho(t, res, payloads)
			})
		}
		t.Run("longpoll", func(t *testing.T) {
			checkLongPollAccepted(t, srv, lib, uniq("tlp"+tag))
		})
	})
}
