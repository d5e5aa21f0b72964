package phx

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/phxgo/phxgo/netpoll"
)

func testConnect(_ context.Context, info *ConnectInfo) (Assigns, error) {
	switch info.Params.Get("token") {
	case "good":
		// The auth token comes back in the assigns: the socket does not
		// keep it after Connect.
		return NewAssigns("user_id", "u1", "auth_token", info.AuthToken, "remote", info.RemoteAddr), nil
	case "boom":
		return Assigns{}, errors.New("db down")
	case "badcode":
		return Assigns{}, &ConnectError{Code: CloseNormal, Reason: "x"}
	}
	return Assigns{}, &ConnectError{Code: CloseUnauthorized, Reason: "unauthorized", Payload: Reason("unauthorized")}
}

func upgradeReq(query string, header http.Header, protocols ...string) *netpoll.UpgradeRequest {
	if header == nil {
		header = http.Header{}
	}
	return &netpoll.UpgradeRequest{RemoteAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 5555},
		Host: "example.com:4000", Path: "/socket/websocket", RawQuery: query, Header: header,
		Protocols: protocols}
}

func TestHandleUpgrade(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect, RejectBrake: -1})
	cases := []struct {
		name      string
		req       *netpoll.UpgradeRequest
		status    int
		reject    bool
		code      CloseCode
		protocol  string
		authToken string
	}{
		{name: "accepted", req: upgradeReq("token=good&vsn=2.0.0", nil)},
		{name: "accepted v1 default", req: upgradeReq("token=good", nil)},
		{name: "bad vsn", req: upgradeReq("token=good&vsn=123.1.1", nil), status: 403},
		{name: "empty vsn refused", req: upgradeReq("token=good&vsn=", nil), status: 403},
		{name: "vsn 2.1 unsupported", req: upgradeReq("token=good&vsn=2.1.0", nil), status: 403},
		{name: "wrong path", req: func() *netpoll.UpgradeRequest {
			r := upgradeReq("token=good", nil)
			r.Path = "/other/websocket"
			return r
		}(), status: 404},
		{name: "foreign origin", req: upgradeReq("token=good", http.Header{"Origin": {"https://evil.test"}}), status: 403},
		{name: "origin equal to Host (DNS rebinding)", req: upgradeReq("token=good", http.Header{"Origin": {"https://example.com"}}), status: 403},
		{name: "loopback origin", req: upgradeReq("token=good", http.Header{"Origin": {"http://127.0.0.1:4000"}})},
		{name: "rejected", req: upgradeReq("token=nope&vsn=2.0.0", nil), reject: true, code: CloseUnauthorized},
		{name: "plain error is internal", req: upgradeReq("token=boom", nil), reject: true, code: CloseConnectFailed},
		{name: "invalid code is internal", req: upgradeReq("token=badcode", nil), reject: true, code: CloseConnectFailed},
		{name: "phoenix protocol answered", req: upgradeReq("token=good&vsn=2.0.0", nil, "phoenix",
			authTokenPrefix+base64.RawStdEncoding.EncodeToString([]byte("s3cr?t~"))), protocol: "phoenix", authToken: "s3cr?t~"},
		{name: "unknown protocol refused", req: upgradeReq("token=good", nil, "graphql-ws"), status: 403},
		{name: "rejected still answers phoenix", req: upgradeReq("token=nope&vsn=2.0.0", nil, "phoenix"), reject: true, code: CloseUnauthorized, protocol: "phoenix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := srv.handleUpgrade(tc.req)
			if res.Status != tc.status {
				t.Fatalf("status %d, want %d", res.Status, tc.status)
			}
			if tc.status != 0 {
				return
			}
			if res.Protocol != tc.protocol {
				t.Fatalf("protocol %q, want %q", res.Protocol, tc.protocol)
			}
			rh, isReject := res.Handler.(*rejectHandler)
			if isReject != tc.reject {
				t.Fatalf("reject=%v, want %v", isReject, tc.reject)
			}
			if isReject && rh.code != tc.code {
				t.Fatalf("code %d, want %d", rh.code, tc.code)
			}
			if wh, ok := res.Handler.(*wsHandler); ok {
				sock := wh.socket()
				if got := sock.Assigns.String("auth_token"); got != tc.authToken {
					t.Fatalf("auth token seen by Connect %q, want %q", got, tc.authToken)
				}
				info := sock.Info()
				if info.AuthToken != "" || info.Params.Len() != 0 || info.Transport != "websocket" ||
					info.Vsn != ParamsFromQuery(tc.req.RawQuery).Get("vsn") || sock.info != nil {
					t.Fatalf("the socket kept %+v (its own: %v)", info, sock.info)
				}
				remote, _ := sock.Assigns.Get("remote")
				want := netip.MustParseAddrPort("127.0.0.9:5555")
				if remote != want || info.RemoteAddr != want || sock.RemoteAddr().String() != want.String() {
					t.Fatalf("remote address %v, kept %v, RemoteAddr() %v, want %v", remote,
						info.RemoteAddr, sock.RemoteAddr(), want)
				}
			}
		})
	}
}

func TestRejectFrameAndHTTPMode(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect, RejectBrake: -1})
	res := srv.handleUpgrade(upgradeReq("token=nope&vsn=2.0.0", nil))
	rh := res.Handler.(*rejectHandler)
	if want := `[null,null,"phoenix","phx_connect_error",{"reason":"unauthorized"}]`; string(rh.frame) != want {
		t.Fatalf("frame %s, want %s", rh.frame, want)
	}
	res = srv.handleUpgrade(upgradeReq("token=nope", nil))
	rh = res.Handler.(*rejectHandler)
	if want := `{"event":"phx_connect_error","payload":{"reason":"unauthorized"},"ref":null,"topic":"phoenix"}`; string(rh.frame) != want {
		t.Fatalf("V1 frame %s, want %s", rh.frame, want)
	}
	httpSrv := newServerForTest(t, Config{Connect: testConnect, RejectMode: RejectHTTP})
	if res := httpSrv.handleUpgrade(upgradeReq("token=nope", nil)); res.Status != 403 || len(res.Body) != 0 {
		t.Fatalf("http mode: status %d body %q", res.Status, res.Body)
	}
}

func TestBrake(t *testing.T) {
	srv := newServerForTest(t, Config{Connect: testConnect, RejectBrake: time.Hour})
	first := srv.handleUpgrade(upgradeReq("token=nope&vsn=2.0.0", nil))
	if _, ok := first.Handler.(*rejectHandler); !ok {
		t.Fatal("first rejection is not a frame rejection")
	}
	again := srv.handleUpgrade(upgradeReq("token=nope&vsn=2.0.0", nil))
	if again.Status != http.StatusTooManyRequests {
		t.Fatalf("retry status %d, want 429", again.Status)
	}
	if string(again.Body) != `{"reason":"unauthorized"}` || again.Header.Get("Retry-After") != "3600" {
		t.Fatalf("429 body %q retry-after %q", again.Body, again.Header.Get("Retry-After"))
	}
	other := srv.handleUpgrade(upgradeReq("token=other&vsn=2.0.0", nil))
	if _, ok := other.Handler.(*rejectHandler); !ok {
		t.Fatal("a different credential was braked")
	}
	if ok := srv.handleUpgrade(upgradeReq("token=good&vsn=2.0.0", nil)); ok.Status != 0 {
		t.Fatalf("good token status %d", ok.Status)
	}
}

func TestBrakeBoundedAndExpiring(t *testing.T) {
	b := newBrake(time.Second, 3, 0)
	cid := func(k uint64) brakeID { return brakeID{client: k, hasClient: true} }
	now := time.Unix(1000, 0)
	for i := range uint64(10) {
		b.record(cid(i), nil, 0, now)
	}
	if n := b.len(); n != 3 {
		t.Fatalf("%d entries, want 3 (bounded)", n)
	}
	if _, _, braked := b.check(cid(9), now); !braked {
		t.Fatal("newest entry evicted")
	}
	if _, _, braked := b.check(cid(0), now); braked {
		t.Fatal("oldest entry kept past the bound")
	}
	if _, _, braked := b.check(cid(9), now.Add(time.Second)); braked {
		t.Fatal("entry outlived its window")
	}
	if n := b.len(); n != 0 {
		t.Fatalf("%d entries after expiry", n)
	}
	// an app's retry advice shortens the hold for that client only
	b.record(cid(1), nil, 100*time.Millisecond, now)
	b.record(cid(2), nil, 0, now)
	if _, left, braked := b.check(cid(1), now); !braked || left != 100*time.Millisecond {
		t.Fatalf("advised hold: braked=%v left=%v", braked, left)
	}
	later := now.Add(200 * time.Millisecond)
	if _, _, braked := b.check(cid(1), later); braked {
		t.Fatal("client held past the app's retry advice")
	}
	if _, _, braked := b.check(cid(2), later); !braked {
		t.Fatal("default window cut short")
	}
}

func TestParamsLastWins(t *testing.T) {
	p := ParamsFromQuery("token=a&user%5Bid%5D=4&token=b&&x=%zz&vsn=2.0.0&empty=")
	want := map[string]string{"token": "b", "user[id]": "4", "vsn": "2.0.0", "empty": ""}
	if p.Len() != len(want) {
		t.Fatalf("got %v, want %v", p, want)
	}
	for k, v := range want {
		if got, ok := p.Lookup(k); !ok || got != v {
			t.Fatalf("%s = %q, want %q", k, got, v)
		}
	}
	var keys []string
	for k, v := range p.All() {
		if want[k] != v {
			t.Fatalf("All: %s = %q, want %q", k, v, want[k])
		}
		keys = append(keys, k)
	}
	if strings.Join(keys, " ") != "token user[id] vsn empty" {
		t.Fatalf("All's keys %v", keys)
	}
	if _, ok := p.Lookup("x"); ok || p.Get("absent") != "" {
		t.Fatal("a malformed or absent key is set")
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.Get("vsn") }); n > 2 {
		t.Fatalf("Get: %v allocations (the unescaped key and the bad escape's error)", n)
	}
	plain := ParamsFromQuery("token=user:u1&vsn=2.0.0")
	if n := testing.AllocsPerRun(100, func() { _, _ = plain.Get("token"), plain.Get("vsn") }); n != 0 {
		t.Fatalf("Get without escapes: %v allocations", n)
	}
	q := NewParams("a b", "x&y=z", "vsn", "2.0.0")
	if q.Get("a b") != "x&y=z" || q.Get("vsn") != "2.0.0" || q.Len() != 2 || q.Query() != "a+b=x%26y%3Dz&vsn=2.0.0" {
		t.Fatalf("NewParams: %q", q.Query())
	}
	var zero Params
	if zero.Len() != 0 || zero.Get("vsn") != "" {
		t.Fatal("zero Params not empty")
	}
}

func TestJoinDeadline(t *testing.T) {
	srv := newServerForTest(t, Config{JoinDeadline: 100 * time.Millisecond})
	srv.Channel("room:*", &testChannel{})
	idle := srv.connectForTest(t, 2, Assigns{})
	busy := srv.connectForTest(t, 2, Assigns{})
	busy.in(`["1","1","room:a","phx_join",{}]`)
	busy.next()
	idle.expect(`[null,null,"phoenix","phx_connect_error",{"reason":"join_timeout"}]`)
	idle.expectClosed(CloseJoinTimeout)
	time.Sleep(300 * time.Millisecond)
	select {
	case <-busy.tr.done:
		t.Fatal("a socket that joined was closed")
	default:
	}
	if n := srv.Stats().JoinTimeouts; n != 1 {
		t.Fatalf("join timeouts %d", n)
	}
}
