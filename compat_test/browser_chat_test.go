package compat_test

import "testing"

// chatPages is the chat scenario's result: both people's pages.
type chatPages struct{ Alice, Bob pageSnap }

// runChat runs the chat scenario (two people, two browser contexts, one
// room; their ids start with prefix) against srv and checks both pages: the
// socket open over WebSocket, both people online, each person's message
// seen by the other. It returns the pages and bob's id.
func runChat(t *testing.T, srv *phxd, prefix string) (res chatPages, bob string) {
	t.Helper()
	alice, bob, room := uniq(prefix+"alice"), uniq(prefix+"bob"), uniq(prefix+"chat")
	res = runBrowser[chatPages](t, srv, "chat",
		map[string]string{"alice": alice, "bob": bob, "room": room})
	for name, p := range map[string]pageSnap{"alice": res.Alice, "bob": res.Bob} {
		if p.State != "open" || p.Transport != "WebSocket" {
			t.Errorf("%s: socket %s over %s, want open over WebSocket (tls %v)", name, p.State, p.Transport, srv.tls)
		}
		if p.onlineUser(alice) == nil || p.onlineUser(bob) == nil || len(p.Online) != 2 {
			t.Errorf("%s's page: online %+v, want %s and %s", name, p.Online, alice, bob)
		}
	}
	if !res.Bob.sees(alice, "hello from "+alice) || !res.Alice.sees(bob, "hi "+alice) {
		t.Errorf("messages: alice saw %+v, bob saw %+v", res.Alice.Messages, res.Bob.Messages)
	}
	return res, bob
}

// checkAway checks that alice's page shows bob's status set in the chat.
func checkAway(t *testing.T, res chatPages, bob string) {
	t.Helper()
	if p := res.Alice.onlineUser(bob); p == nil || p.Status == nil || *p.Status != "away" {
		t.Errorf("alice's page: bob's presence %+v, want status away", p)
	}
}

// The chat scenario of TestBrowser against phxd -compress: Chromium offers
// permessage-deflate on every connect ("permessage-deflate;
// client_max_window_bits", the offer netpoll's negotiation tests replay),
// so the pages run over compressed WebSockets: presence_state and the
// presence diffs (over 128 bytes) reach Chromium compressed, and the chat
// must work exactly as without compression.
func TestBrowserCompressedChat(t *testing.T) {
	t.Parallel()
	checkBrowserSetup(t)
	srv := startWebServer(t, "-compress")
	res, bob := runChat(t, srv, "z")
	checkAway(t, res, bob)
}
