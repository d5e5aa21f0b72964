package phx

import (
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/phxgo/phxgo/netpoll"
)

// braked reports whether the server refused req before the upgrade with
// the brake's 429 (and fails the test on any other outcome but a frame
// rejection).
func braked(t *testing.T, srv *Server, req *netpoll.UpgradeRequest) bool {
	t.Helper()
	res := srv.handleUpgrade(req)
	if res.Status == http.StatusTooManyRequests {
		return true
	}
	if _, ok := res.Handler.(*rejectHandler); !ok || res.Status != 0 {
		t.Fatalf("query %q: status %d handler %T, want a 429 or a frame rejection", req.RawQuery, res.Status, res.Handler)
	}
	return false
}

// The brake is keyed on what identifies the client, not on the raw query:
// junk parameters, nonces, a different order or vsn do not make a new
// client (hole 7 of issue 10: a junk &x=N per attempt defeated it).
func TestBrakeIgnoresJunkParams(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect, RejectBrake: time.Hour})
	if braked(t, srv, upgradeReq("token=nope&vsn=2.0.0", nil)) {
		t.Fatal("first attempt braked")
	}
	for i := range 20 {
		for _, q := range []string{
			"token=nope&vsn=2.0.0&x=" + strconv.Itoa(i),
			"_=" + strconv.Itoa(1e9+i) + "&token=nope&vsn=2.0.0",
			"vsn=1.0.0&token=nope",
			"token=nope",
			"token=other" + strconv.Itoa(i) + "&token=nope", // the app sees the last value
			"token=n%6Fpe&vsn=2.0.0",                        // the same token, escaped
		} {
			if !braked(t, srv, upgradeReq(q, nil)) {
				t.Fatalf("attempt %q slipped past the brake", q)
			}
		}
	}
	if n := srv.brake.len(); n != 2 { // the client, and its address's count
		t.Fatalf("%d brake entries for one client, want 2", n)
	}
}

// A different token, a different auth token or a different address is a
// different client: never braked by another's rejection.
func TestBrakeDifferentClients(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect, RejectBrake: time.Hour})
	if braked(t, srv, upgradeReq("token=nope", nil)) {
		t.Fatal("first attempt braked")
	}
	if braked(t, srv, upgradeReq("token=nope2", nil)) {
		t.Fatal("a different token was braked")
	}
	auth := authTokenPrefix + base64.RawStdEncoding.EncodeToString([]byte("a1"))
	if braked(t, srv, upgradeReq("token=nope", nil, auth)) {
		t.Fatal("a different auth token was braked")
	}
	if !braked(t, srv, upgradeReq("token=nope&z=1", nil, auth)) {
		t.Fatal("the auth-token client's retry was not braked")
	}
	other := upgradeReq("token=nope", nil)
	other.RemoteAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 10), Port: 5555}
	if braked(t, srv, other) {
		t.Fatal("another address was braked")
	}
	// the port is not part of the identity: a new connection is a new port
	again := upgradeReq("token=nope", nil)
	again.RemoteAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 6666}
	if !braked(t, srv, again) {
		t.Fatal("the same client from another port was not braked")
	}
}

// Config.BrakeKey names the credential when it is not the token param:
// here a cookie. Query junk still does not matter; another cookie is
// another client.
func TestBrakeKeyFunc(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect, RejectBrake: time.Hour,
		BrakeKey: func(info *ConnectInfo) string { return info.Header.Get("Cookie") }})
	cookie := func(v string) http.Header { return http.Header{"Cookie": {"session=" + v}} }
	if braked(t, srv, upgradeReq("token=nope", cookie("a"))) {
		t.Fatal("first attempt braked")
	}
	if !braked(t, srv, upgradeReq("token=nope&n=1", cookie("a"))) {
		t.Fatal("the same cookie was not braked")
	}
	if !braked(t, srv, upgradeReq("token=other", cookie("a"))) {
		t.Fatal("the token param counted although BrakeKey replaces it")
	}
	if braked(t, srv, upgradeReq("token=nope", cookie("b"))) {
		t.Fatal("another cookie was braked")
	}
}

// The credentials are length-delimited in the key: splitting the same
// bytes differently between token and auth token is another client.
func TestBrakeKeyDelimited(t *testing.T) {
	b := newBrake(time.Second, 10, 20)
	if b.id("1.2.3.4", []string{"ab", "c"}).client == b.id("1.2.3.4", []string{"a", "bc"}).client {
		t.Fatal("credentials not delimited in the key")
	}
	if b.id("1.2.3.4", []string{"a", ""}).client == b.id("1.2.3.5", []string{"a", ""}).client {
		t.Fatal("the IP is not part of the key")
	}
	if id := b.id("1.2.3.4", []string{""}); id.client == id.addr {
		t.Fatal("client and address keys collide")
	}
}
