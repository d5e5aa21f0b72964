package phx_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/netpoll/tlstest"
	"github.com/phxgo/phxgo/phx"
)

// The Server mounted under the application's https server: with
// TLSListener the WebSocket runs on the event loop (wss join, echo of a
// payload spanning several records); LongPoll is served by net/http.
func TestMountedOverTLS(t *testing.T) {
	cert, pool, err := tlstest.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := phx.NewServer(phx.Config{Path: "/socket", Logger: slog.New(slog.DiscardHandler)})
	srv.Channel("room:*", echoRoom{})
	t.Cleanup(func() { _ = srv.Close() })
	mux := http.NewServeMux()
	mux.Handle("/socket/", srv)
	ts := httptest.NewUnstartedServer(mux)
	ts.Listener = phx.TLSListener(ts.Listener, &tls.Config{Certificates: []tls.Certificate{cert}})
	ts.Start()
	t.Cleanup(ts.Close)
	addr := ts.Listener.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dialer{TLSConfig: &tls.Config{RootCAs: pool}}.Dial(ctx, "wss://"+addr+"/socket/websocket?vsn=2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	big := strings.Repeat("é", 20000)
	for _, step := range [][2]string{
		{`["1","1","room:lobby","phx_join",{}]`, `"status":"ok"`},
		{`["1","2","room:lobby","hello",{"s":"` + big + `"}]`, big},
	} {
		if err := wsutil.WriteClientText(conn, []byte(step[0])); err != nil {
			t.Fatal(err)
		}
		reply, err := wsutil.ReadServerText(conn)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(reply), step[1]) {
			t.Fatalf("reply to %.40s: %.80s", step[0], reply)
		}
	}
	if st := srv.NetStats(); st.Conns != 1 {
		t.Fatalf("event loop holds %d sockets, want 1", st.Conns)
	}
}
