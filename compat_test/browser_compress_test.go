package compat_test

import "testing"

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
	alice, bob, room := uniq("zalice"), uniq("zbob"), uniq("zchat")
	res := runBrowser[struct{ Alice, Bob pageSnap }](t, srv, "chat",
		map[string]string{"alice": alice, "bob": bob, "room": room})
	for name, p := range map[string]pageSnap{"alice": res.Alice, "bob": res.Bob} {
		if p.State != "open" || p.Transport != "WebSocket" {
			t.Errorf("%s: socket %s over %s, want open over WebSocket", name, p.State, p.Transport)
		}
		if p.onlineUser(alice) == nil || p.onlineUser(bob) == nil || len(p.Online) != 2 {
			t.Errorf("%s's page: online %+v, want %s and %s", name, p.Online, alice, bob)
		}
	}
	if !res.Bob.sees(alice, "hello from "+alice) || !res.Alice.sees(bob, "hi "+alice) {
		t.Errorf("messages: alice saw %+v, bob saw %+v", res.Alice.Messages, res.Bob.Messages)
	}
	if p := res.Alice.onlineUser(bob); p == nil || p.Status == nil || *p.Status != "away" {
		t.Errorf("alice's page: bob's presence %+v, want status away", p)
	}
}
