package phx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/phxgo/phxgo/netpoll"
)

// A panic in the app's Connect (recovered further up, by net/http or the
// event loop's worker) gives back the session place and the connection
// slot that were taken before Connect ran.
func TestLongPollConnectPanicReleases(t *testing.T) {
	const maxConns = 4
	srv := newServerForTest(t, Config{Net: netpoll.Config{MaxConns: maxConns},
		LongPoll: LongPollConfig{MaxSessions: maxConns},
		Connect: func(ctx context.Context, info *ConnectInfo) (Assigns, error) {
			if info.Params.Get("token") == "panic" {
				panic("app bug")
			}
			return testConnect(ctx, info)
		}})
	srv.Channel("room:*", &testChannel{})
	np, err := srv.netpoll()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 * maxConns {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("GET %d: Connect's panic did not propagate", i)
				}
			}()
			req := httptest.NewRequest(http.MethodGet, "/socket/longpoll?token=panic&vsn=2.0.0", nil)
			srv.ServeHTTP(httptest.NewRecorder(), req)
		}()
	}
	if n := srv.lp.places.Load(); n != 0 {
		t.Fatalf("%d session places held after %d panicking Connects, want 0", n, 3*maxConns)
	}
	if n := np.Stats().Slots; n != 0 {
		t.Fatalf("%d connection slots held after %d panicking Connects, want 0", n, 3*maxConns)
	}
	// every place is usable
	if tokens := lpFlood(t, srv, maxConns, 1); len(tokens) != maxConns {
		t.Fatalf("%d sessions after the panics, want %d", len(tokens), maxConns)
	}
}
