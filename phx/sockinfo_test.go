package phx

import (
	"net/http"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/phxgo/phxgo/serializer"
)

// A socket keeps no ConnectInfo when its own fields say everything Info
// reports, and keeps it when there is more (kept headers, an unusual vsn
// or transport); Info reports the same either way, never Params or the
// auth token.
func TestSocketInfoKept(t *testing.T) {
	srv := newServerForTest(t, Config{KeepHeaders: []string{"X-Request-Id"}})
	addr := netip.MustParseAddrPort("[2001:db8::1]:4000")
	uri := "/socket/websocket?vsn=2.0.1&token=secret"
	cases := []struct {
		name      string
		header    http.Header
		transport string
		vsn       string
		kept      bool
	}{
		{"websocket v2", http.Header{"Cookie": {"a"}}, "websocket", "2.0.0", false},
		{"longpoll v1", nil, "longpoll", "1.0.0", false},
		{"no vsn", nil, "websocket", "", false},
		{"kept header", http.Header{"X-Request-Id": {"7"}}, "websocket", "2.0.0", true},
		{"unusual vsn", nil, "websocket", uri[len(uri)-len("2.0.1&token=secret") : len(uri)-len("&token=secret")], true},
		{"other transport", nil, "null", "2.0.0", true},
	}
	for _, tc := range cases {
		info := &ConnectInfo{Params: NewParams("token", "secret"), Header: tc.header, RemoteAddr: addr,
			AuthToken: "tok", Transport: tc.transport, Vsn: tc.vsn}
		s := srv.newSocket(info, serializer.V2, Assigns{})
		if (s.info != nil) != tc.kept {
			t.Errorf("%s: ConnectInfo kept %v, want %v", tc.name, s.info != nil, tc.kept)
		}
		got := s.Info()
		if got.RemoteAddr != addr || got.Transport != tc.transport || got.Vsn != tc.vsn ||
			got.Params.Len() != 0 || got.AuthToken != "" || s.vsnString() != tc.vsn {
			t.Errorf("%s: Info %+v", tc.name, got)
		}
		if tc.name == "kept header" && got.Header.Get("X-Request-Id") != "7" {
			t.Errorf("%s: headers %v", tc.name, got.Header)
		}
		if tc.name == "websocket v2" && got.Header != nil {
			t.Errorf("%s: headers %v kept", tc.name, got.Header)
		}
		if tc.name == "unusual vsn" && unsafe.StringData(got.Vsn) == unsafe.StringData(tc.vsn) {
			t.Errorf("%s: the vsn pins the request URI", tc.name)
		}
		if s.RemoteAddr().String() != addr.String() {
			t.Errorf("%s: RemoteAddr %v", tc.name, s.RemoteAddr())
		}
	}
	// a client without an IP address (a Unix socket) has no RemoteAddr,
	// rather than one that prints ":0"
	unix := srv.newSocket(&ConnectInfo{Transport: "websocket"}, serializer.V2, Assigns{})
	if a := unix.RemoteAddr(); a != nil {
		t.Errorf("RemoteAddr without an address: %#v", a)
	}
}
