package phx

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// userTokenConnect is an app whose credential travels in another param
// ("user_token") or a session cookie, which the default brake key does not
// read; it counts its runs.
func userTokenConnect(calls *atomic.Int64) ConnectFunc {
	return func(_ context.Context, info *ConnectInfo) (Assigns, error) {
		calls.Add(1)
		if info.Params.Get("user_token") == "good" || info.Header.Get("Cookie") == "session=good" {
			return Assigns{}, nil
		}
		return Assigns{}, &ConnectError{Code: CloseUnauthorized, Reason: "unauthorized", Payload: Reason("unauthorized")}
	}
}

// accepted fails the test unless the server let req through to Connect
// and accepted it.
func accepted(t *testing.T, srv *Server, header http.Header, query string) {
	t.Helper()
	res := srv.handleUpgrade(upgradeReq(query, header))
	if res.Status != 0 || res.Handler == nil {
		t.Fatalf("query %q: status %d, want accepted", query, res.Status)
	}
	if _, rejected := res.Handler.(*rejectHandler); rejected {
		t.Fatalf("query %q: rejected, want accepted", query)
	}
}

// Clients behind one NAT or proxy share an address. When no default
// credential (token param, auth token) is present, one refused client must
// not brake the others: the key then holds the Cookie and Authorization
// headers, and with nothing at all only the per-address cap applies.
func TestBrakeNoLockoutBehindNAT(t *testing.T) {
	var calls atomic.Int64
	srv := newServerForTest(t, Config{Connect: userTokenConnect(&calls), RejectBrake: time.Hour})
	// credential in another param: the refused client's retry runs Connect
	// again (no identity to brake it by), and a good client on the same
	// address connects
	if braked(t, srv, upgradeReq("user_token=bad", nil)) || braked(t, srv, upgradeReq("user_token=bad", nil)) {
		t.Fatal("an anonymous retry was braked by another's rejection")
	}
	accepted(t, srv, nil, "user_token=good")
	// credential in a cookie: the cookie identifies the client
	bad := http.Header{"Cookie": {"session=bad"}}
	if braked(t, srv, upgradeReq("", bad)) {
		t.Fatal("first attempt braked")
	}
	if !braked(t, srv, upgradeReq("x=1", bad)) {
		t.Fatal("the same cookie's retry was not braked")
	}
	good := http.Header{"Cookie": {"session=good"}}
	accepted(t, srv, good, "")
	// an Authorization header identifies a client too
	authz := http.Header{"Authorization": {"Bearer bad"}}
	if braked(t, srv, upgradeReq("", authz)) || !braked(t, srv, upgradeReq("", authz)) {
		t.Fatal("Authorization header not part of the key")
	}
	if n := calls.Load(); n != 6 {
		t.Fatalf("Connect ran %d times, want 6", n)
	}
	// a BrakeKey answering "" identifies nobody either
	srv2 := newServerForTest(t, Config{Connect: userTokenConnect(&calls), RejectBrake: time.Hour,
		BrakeKey: func(*ConnectInfo) string { return "" }})
	if braked(t, srv2, upgradeReq("user_token=bad", nil)) || braked(t, srv2, upgradeReq("user_token=bad", nil)) {
		t.Fatal("an empty BrakeKey braked the whole address")
	}
	accepted(t, srv2, nil, "user_token=good")
}

// The address part of the key is the IPv6 /64 (as netpoll's per-address
// limits), so a host rotating through its /64 stays braked; IPv4 and
// IPv4-mapped IPv6 are one address.
func TestBrakeIPv6Prefix(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect, RejectBrake: time.Hour})
	req := func(ip string) bool {
		r := upgradeReq("token=nope", nil)
		r.RemoteAddr = &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}
		return braked(t, srv, r)
	}
	if req("2001:db8:1:2::1") {
		t.Fatal("first attempt braked")
	}
	for _, ip := range []string{"2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"} {
		if !req(ip) {
			t.Fatalf("%s, in the same /64, slipped past the brake", ip)
		}
	}
	if req("2001:db8:1:3::1") {
		t.Fatal("another /64 was braked")
	}
	if req("192.0.2.7") || !req("::ffff:192.0.2.7") {
		t.Fatal("IPv4-mapped address not the same client as its IPv4 address")
	}
	for _, c := range []struct{ in, want string }{
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
	} {
		if got := brakeAddr(&net.TCPAddr{IP: net.ParseIP(c.in)}); got != c.want {
			t.Fatalf("brakeAddr(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

// A client varying its token per attempt is a new client every time; the
// per-address cap bounds how often Connect runs for it: after
// BrakeAddrRejections rejections within the window, every attempt from the
// address is braked, whatever its credential. Other addresses go on.
func TestBrakeAddrCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cap   int
		calls int64
	}{
		{"default", 0, 20},
		{"configured", 5, 5},
		{"disabled", -1, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := newServerForTest(t, Config{RejectBrake: time.Hour, BrakeAddrRejections: tc.cap,
				Connect: func(ctx context.Context, info *ConnectInfo) (Assigns, error) {
					calls.Add(1)
					return testConnect(ctx, info)
				}})
			nBraked := 0
			for i := range 100 {
				if braked(t, srv, upgradeReq("token=try"+strconv.Itoa(i), nil)) {
					nBraked++
				}
			}
			if n := calls.Load(); n != tc.calls {
				t.Fatalf("Connect ran %d times for 100 varied tokens, want %d", n, tc.calls)
			}
			if nBraked != 100-int(tc.calls) {
				t.Fatalf("%d braked", nBraked)
			}
			good := srv.handleUpgrade(upgradeReq("token=good", nil))
			if wantBraked := tc.cap >= 0; (good.Status == http.StatusTooManyRequests) != wantBraked {
				t.Fatalf("good token from the capped address: status %d", good.Status)
			}
			other := upgradeReq("token=try0", nil)
			other.RemoteAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 10), Port: 1}
			if braked(t, srv, other) {
				t.Fatal("another address was braked")
			}
		})
	}
}

// The address cap counts within one window and lasts one window.
func TestBrakeAddrCapWindow(t *testing.T) {
	b := newBrake(time.Second, 100, 3)
	now := time.Unix(1000, 0)
	client := func(i int) brakeID { return b.id("192.0.2.1", []string{strconv.Itoa(i)}) }
	anon := b.id("192.0.2.1", nil)
	b.record(client(1), nil, 0, now)
	b.record(client(2), nil, 0, now.Add(500*time.Millisecond))
	// the first rejection's count has lapsed by the third: no brake yet
	b.record(client(3), nil, 0, now.Add(time.Second))
	if _, _, braked := b.check(anon, now.Add(time.Second)); braked {
		t.Fatal("address braked for rejections spread over more than a window")
	}
	b.record(anon, nil, 0, now.Add(1100*time.Millisecond))
	b.record(anon, []byte(`{"reason":"x"}`), 0, now.Add(1200*time.Millisecond))
	body, left, braked := b.check(client(9), now.Add(1200*time.Millisecond))
	if !braked || left != time.Second || string(body) != `{"reason":"x"}` {
		t.Fatalf("third rejection in the window: braked=%v left=%v body=%s", braked, left, body)
	}
	if _, _, braked := b.check(client(9), now.Add(2200*time.Millisecond)); braked {
		t.Fatal("address braked past its window")
	}
}
